package dev.walkeeper.cluster;

import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.timeline.RuntimeDownstreams;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;

/**
 * The downstreams registered at runtime ({@code ADD_DOWNSTREAM}, {@code REMOVE_DOWNSTREAM}), kept
 * in one replicated {@link LWWMap} keyed by name: any member can be asked and every member knows
 * them. A change is written to a majority of the members before it is confirmed (so it outlives
 * the member asked), and each member stores the map in its data directory on every change and
 * merges it back at start ({@link DownstreamsFile}), so a cluster restarted whole still has them.
 * (Pekko's durable keys would do the same over LMDB, which needs JVM flags that a missing one
 * turns into a JVM exit.) This actor runs on the blocking dispatcher: it fsyncs that file. Concurrent changes of one
 * name merge as the map does: the later write wins, and a removal does not remove a concurrent
 * re-registration.
 *
 * <p>It tells every timeline of this node its registered downstreams on each change and once a
 * second (a restarted timeline actor has forgotten them); the timeline's push role decides whether
 * it pushes to them. A registered timeline whose WAL is on this node's disk but that no proposer
 * opened yet is opened, so that a restarted node resumes pushing without one ({@link NodeGuardian}
 * does the same for the configured downstreams).
 */
final class SharedDownstreams extends AbstractBehavior<SharedDownstreams.Command> {

    sealed interface Command {}

    private record Asked(RuntimeDownstreams.Request request) implements Command {}

    private record Started(TimelineRegistry.TimelineStarted started) implements Command {}

    private record TimelineStopped(TenantTimelineId id) implements Command {}

    private record Replicated(Replicator.SubscribeResponse<LWWMap<String, DownstreamEntry>> response)
            implements Command {}

    private record Restored(Replicator.UpdateResponse<LWWMap<String, DownstreamEntry>> response) implements Command {}

    private record Written(Replicator.UpdateResponse<LWWMap<String, DownstreamEntry>> response,
                           RuntimeDownstreams.Request request, List<DownstreamEntry> after) implements Command {}

    private enum Retell implements Command { INSTANCE }

    static final Key<LWWMap<String, DownstreamEntry>> KEY = LWWMapKey.create("walkeeper-downstreams");

    /** How long a change waits for a majority of the members before it is reported as not confirmed. */
    static final Duration WRITE_TIMEOUT = Duration.ofSeconds(5);

    private static final Duration RETELL_EVERY = Duration.ofSeconds(1);

    private final ReplicatorMessageAdapter<Command, LWWMap<String, DownstreamEntry>> replicator;
    private final ActorRef<TimelineRegistry.Command> registry;
    private final SelfUniqueAddress self;
    private final Map<String, String> passwords;
    private final Predicate<TenantTimelineId> onDisk;
    /** Where this node keeps the map across restarts. */
    private final DownstreamsFile file;
    private final Map<TenantTimelineId, ActorRef<Timeline.Command>> timelines = new HashMap<>();
    /** What each timeline was last told. */
    private final Map<TenantTimelineId, List<PushReplicator.Downstream>> told = new HashMap<>();
    /** Timelines this actor asked the registry to open, once each. */
    private final Set<TenantTimelineId> opened = new HashSet<>();
    private Map<String, DownstreamEntry> entries = Map.of();

    /**
     * @param passwords per user, the password this node connects to a registered downstream with
     *     (none or empty: the downstream must trust the user)
     * @param onDisk whether this node holds WAL of a timeline (its directory exists)
     * @param stateFile where the map is kept across restarts (and merged back from at start)
     */
    static Behavior<Command> create(ActorRef<TimelineRegistry.Command> registry, Map<String, String> passwords,
                                    Predicate<TenantTimelineId> onDisk, Path stateFile) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                DistributedData.<Command, LWWMap<String, DownstreamEntry>>withReplicatorMessageAdapter(replicator -> {
                    timers.startTimerWithFixedDelay(Retell.INSTANCE, RETELL_EVERY);
                    SharedDownstreams behavior = new SharedDownstreams(ctx, replicator, registry, passwords, onDisk,
                            new DownstreamsFile(stateFile, ctx.getSystem()));
                    behavior.restore();
                    return behavior;
                })));
    }

    private SharedDownstreams(ActorContext<Command> ctx,
                              ReplicatorMessageAdapter<Command, LWWMap<String, DownstreamEntry>> replicator,
                              ActorRef<TimelineRegistry.Command> registry, Map<String, String> passwords,
                              Predicate<TenantTimelineId> onDisk, DownstreamsFile file) {
        super(ctx);
        this.file = file;
        this.replicator = replicator;
        this.registry = registry;
        this.passwords = Map.copyOf(passwords);
        this.onDisk = onDisk;
        this.self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
        replicator.subscribe(KEY, Replicated::new);
        registry.tell(new TimelineRegistry.WatchTimelines(ctx.messageAdapter(TimelineRegistry.TimelineStarted.class,
                Started::new)));
        registry.tell(new TimelineRegistry.AttachDownstreams(ctx.messageAdapter(RuntimeDownstreams.Request.class,
                Asked::new)));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Asked.class, asked -> onRequest(asked.request()))
                .onMessage(Written.class, this::onWritten)
                .onMessage(Restored.class, restored -> {
                    if (!(restored.response() instanceof Replicator.UpdateSuccess)) {
                        getContext().getLog().error("stored downstreams not restored: {}", restored.response());
                    }
                    return this;
                })
                .onMessage(Replicated.class, replicated -> {
                    if (replicated.response() instanceof Replicator.Changed<LWWMap<String, DownstreamEntry>> changed) {
                        entries = Map.copyOf(changed.get(KEY).getEntries());
                        store(changed.get(KEY));
                        entries.values().forEach(e -> openIfOnDisk(e.timeline()));
                        tellTimelines(false);
                    }
                    return this;
                })
                .onMessage(Started.class, started -> {
                    TenantTimelineId id = started.started().id();
                    timelines.put(id, started.started().timeline());
                    getContext().watchWith(started.started().timeline(), new TimelineStopped(id));
                    tell(id, started.started().timeline(), true);
                    return this;
                })
                .onMessage(TimelineStopped.class, stopped -> {
                    timelines.remove(stopped.id());
                    told.remove(stopped.id());
                    opened.remove(stopped.id());
                    return this;
                })
                .onMessage(Retell.class, tick -> {
                    tellTimelines(true);
                    return this;
                })
                .build();
    }

    /** Merges what this node stored into the map: registrations outlive a restart of the whole cluster. */
    private void restore() {
        try {
            file.read().ifPresent(stored -> {
                getContext().getLog().info("restoring {} registered downstream(s) stored here", stored.size());
                // Known at once (the replicator tells its merged state a moment later).
                entries = Map.copyOf(stored.getEntries());
                entries.values().forEach(e -> openIfOnDisk(e.timeline()));
                replicator.askUpdate(replyTo -> new Replicator.Update<>(KEY, LWWMap.create(), Replicator.writeLocal(),
                        replyTo, existing -> existing.merge(stored)), Restored::new);
            });
        } catch (IOException | RuntimeException e) {
            getContext().getLog().error("cannot read the stored downstreams, starting without them: {}", e.toString());
        }
    }

    /** Stores the map as replicated here (the file is small: one entry per registered downstream). */
    private void store(LWWMap<String, DownstreamEntry> map) {
        try {
            file.write(map);
        } catch (IOException | RuntimeException e) {
            getContext().getLog().error("cannot store the registered downstreams; they are kept by the cluster"
                    + " but would not outlive a restart of every node: {}", e.toString());
        }
    }

    private Behavior<Command> onRequest(RuntimeDownstreams.Request request) {
        if (request instanceof RuntimeDownstreams.GetAll get) {
            get.replyTo().tell(RuntimeDownstreams.Reply.ok(sorted(entries.values())));
        } else if (request instanceof RuntimeDownstreams.Add add) {
            DownstreamEntry entry = DownstreamEntry.of(add.downstream());
            String refusal = duplicate(entry);
            if (refusal != null) {
                add.replyTo().tell(RuntimeDownstreams.Reply.refused(SqlState.DUPLICATE_OBJECT, refusal));
                return this;
            }
            Map<String, DownstreamEntry> after = new HashMap<>(entries);
            after.put(entry.name(), entry);
            write(request, map -> map.put(self, entry.name(), entry), after);
        } else if (request instanceof RuntimeDownstreams.Remove remove) {
            if (!entries.containsKey(remove.name())) {
                remove.replyTo().tell(RuntimeDownstreams.Reply.refused(SqlState.UNDEFINED_OBJECT,
                        "downstream \"" + remove.name() + "\" does not exist"));
                return this;
            }
            Map<String, DownstreamEntry> after = new HashMap<>(entries);
            after.remove(remove.name());
            write(request, map -> map.remove(self, remove.name()), after);
        }
        return this;
    }

    /** Why {@code entry} cannot be added, or null: its name, or its timeline and address, is taken. */
    private String duplicate(DownstreamEntry entry) {
        if (entries.containsKey(entry.name())) {
            return "downstream \"" + entry.name() + "\" already exists";
        }
        for (DownstreamEntry e : entries.values()) {
            if (e.timeline().equals(entry.timeline()) && e.host().equals(entry.host()) && e.port() == entry.port()) {
                return "downstream \"" + e.name() + "\" already pushes timeline " + e.timeline() + " to "
                        + e.host() + ":" + e.port();
            }
        }
        return null;
    }

    private void write(RuntimeDownstreams.Request request,
                       java.util.function.UnaryOperator<LWWMap<String, DownstreamEntry>> modify,
                       Map<String, DownstreamEntry> after) {
        List<DownstreamEntry> expected = List.copyOf(after.values());
        // The next request sees this change at once, not only once the replicator tells it back.
        entries = Map.copyOf(after);
        tellTimelines(false);
        replicator.askUpdate(replyTo -> new Replicator.Update<>(KEY, LWWMap.create(),
                        new Replicator.WriteMajority(WRITE_TIMEOUT), replyTo, modify::apply),
                response -> new Written(response, request, expected));
    }

    private Behavior<Command> onWritten(Written written) {
        ActorRef<RuntimeDownstreams.Reply> replyTo = written.request().replyTo();
        if (written.response() instanceof Replicator.UpdateSuccess) {
            replyTo.tell(RuntimeDownstreams.Reply.ok(sorted(written.after())));
        } else if (written.response() instanceof Replicator.UpdateTimeout) {
            // The change is made here and spreads by gossip; only its majority is not confirmed.
            replyTo.tell(RuntimeDownstreams.Reply.refused(SqlState.INTERNAL_ERROR, "the change was made on this node"
                    + " but a majority of the members did not confirm it within " + WRITE_TIMEOUT.toSeconds()
                    + " s; it spreads to the others when they are reachable (LIST_DOWNSTREAMS shows it)"));
        } else {
            replyTo.tell(RuntimeDownstreams.Reply.refused(SqlState.INTERNAL_ERROR, "the change failed: "
                    + written.response()));
        }
        return this;
    }

    /**
     * A timeline this node holds on disk but has not opened is opened (once): its positions are
     * then published, the pusher chosen, and a chosen node pushes without waiting for a proposer.
     */
    private void openIfOnDisk(TenantTimelineId id) {
        if (!timelines.containsKey(id) && opened.add(id) && onDisk.test(id)) {
            getContext().getLog().info("timeline {}: opened at start for its downstreams", id);
            registry.tell(new TimelineRegistry.Get(id, getContext().getSystem().ignoreRef()));
        }
    }

    private void tellTimelines(boolean always) {
        timelines.forEach((id, timeline) -> tell(id, timeline, always));
    }

    private void tell(TenantTimelineId id, ActorRef<Timeline.Command> timeline, boolean always) {
        List<PushReplicator.Downstream> now = new ArrayList<>();
        for (DownstreamEntry e : entries.values().stream().sorted(Comparator.comparing(DownstreamEntry::name)).toList()) {
            if (e.timeline().equals(id)) {
                String password = passwords.getOrDefault(e.user(), "");
                now.add(new PushReplicator.Downstream(InetSocketAddress.createUnresolved(e.host(), e.port()), e.user(),
                        password.isEmpty() ? null : password));
            }
        }
        List<PushReplicator.Downstream> before = told.put(id, now);
        if (always || !now.equals(before)) {
            timeline.tell(new Timeline.RegisteredDownstreams(now));
        }
    }

    private static List<RuntimeDownstreams.Registered> sorted(java.util.Collection<DownstreamEntry> entries) {
        return entries.stream().sorted(Comparator.comparing(DownstreamEntry::name)).map(DownstreamEntry::registered)
                .toList();
    }
}
