package dev.walkeeper.cluster;

import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.PusherChoice;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.UniqueAddress;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * The broker role: this node's share of the cluster's timeline state, over Pekko Distributed
 * Data. It watches the positions of every timeline the registry holds and publishes them in one
 * replicated {@link LWWMap} (an entry per member and timeline, see {@link TimelineEntry}), at most
 * once per {@code publishInterval} per timeline and only on change; it removes a timeline's entry
 * when its actor stops, and every member removes a removed member's entries (each does, so the
 * removal does not depend on one node seeing it). It answers the {@link ClusterTimelines} port
 * from the map as last replicated here, with the members' status from this node's view.
 *
 * <p>It also decides whether this node pushes each of its timelines ({@link PusherChoice} over
 * that same view, which every member computes alike): on every change of the map, of membership
 * or reachability, after its own publication, and once a second (a restarted timeline actor has
 * forgotten its role), it tells each timeline {@link Timeline.PushRole}.
 */
final class SharedTimelineState extends AbstractBehavior<SharedTimelineState.Command> {

    sealed interface Command {}

    private record Query(ClusterTimelines.Query query) implements Command {}

    /** Where this node's listener is bound (HOST:PORT): published with every entry from now on. */
    record Listening(String listen) implements Command {}

    private record Started(TimelineRegistry.TimelineStarted started) implements Command {}

    private record TimelineStopped(TenantTimelineId id) implements Command {}

    private record Observed(TenantTimelineId id, Timeline.Positions positions) implements Command {}

    private record PushObserved(TenantTimelineId id, Timeline.PushProgress progress) implements Command {}

    private record ConsumersObserved(TenantTimelineId id, List<TimelineEntry.ConsumerEntry> pulls) implements Command {}

    private enum MembershipChanged implements Command { INSTANCE }

    private enum Evaluate implements Command { INSTANCE }

    private record PublishDue(TenantTimelineId id) implements Command {}

    private record MemberRemoved(UniqueAddress member) implements Command {}

    private record Replicated(Replicator.SubscribeResponse<LWWMap<String, TimelineEntry>> response)
            implements Command {}

    private record Updated(Replicator.UpdateResponse<LWWMap<String, TimelineEntry>> response) implements Command {}

    private enum Rewatch { INSTANCE }

    private enum PollConsumers { INSTANCE }

    /** How often a watcher asks its timeline for its pull consumers (published on change only). */
    private static final Duration CONSUMERS_EVERY = Duration.ofSeconds(1);

    /** The one replicated map every member writes its own entries into. */
    static final Key<LWWMap<String, TimelineEntry>> KEY = LWWMapKey.create("walkeeper-timelines");

    /** The member role that carries a node's id, so that members are known by it before they publish. */
    static final String NODE_ROLE_PREFIX = "walkeeper-node-";

    /** How long a watcher waits before it watches a timeline again after an interruption (a restart). */
    private static final Duration REWATCH_AFTER = Duration.ofSeconds(1);

    /** How often push roles are told again even with nothing changed (a restarted timeline starts without one). */
    private static final Duration REEVALUATE_EVERY = Duration.ofSeconds(1);

    private final ReplicatorMessageAdapter<Command, LWWMap<String, TimelineEntry>> replicator;
    private final TimerScheduler<Command> timers;
    private final Duration publishInterval;
    private final long nodeId;
    private final SelfUniqueAddress self;
    /** This node's wire address, published so that peers can recover WAL from it; empty until known. */
    private String listen = "";
    private final Cluster cluster;
    private final long pusherLagTolerance;
    private final Map<TenantTimelineId, ActorRef<Object>> watchers = new HashMap<>();
    private final Map<TenantTimelineId, ActorRef<Timeline.Command>> timelines = new HashMap<>();
    private final Map<TenantTimelineId, Timeline.Positions> latest = new HashMap<>();
    private final Map<TenantTimelineId, Timeline.PushProgress> pushes = new HashMap<>();
    private final Map<TenantTimelineId, List<TimelineEntry.ConsumerEntry>> pulls = new HashMap<>();
    private final Map<TenantTimelineId, TimelineEntry> published = new HashMap<>();
    /** The push role each timeline was last told. */
    private final Map<TenantTimelineId, Boolean> roles = new HashMap<>();
    /** The map as last replicated to this node. */
    private Map<String, TimelineEntry> entries = Map.of();

    /**
     * Subscribes to {@code registry}'s timelines and attaches itself as the registry's
     * {@link ClusterTimelines}; {@code nodeId} goes into every entry it publishes.
     */
    static Behavior<Command> create(ActorRef<TimelineRegistry.Command> registry, long nodeId, Duration publishInterval) {
        return create(registry, nodeId, publishInterval, ClusterSettings.DEFAULT_PUSHER_LAG_TOLERANCE);
    }

    /** ... with the {@link PusherChoice} lag tolerance in bytes. */
    static Behavior<Command> create(ActorRef<TimelineRegistry.Command> registry, long nodeId, Duration publishInterval,
                                    long pusherLagTolerance) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                DistributedData.<Command, LWWMap<String, TimelineEntry>>withReplicatorMessageAdapter(replicator ->
                        new SharedTimelineState(ctx, timers, replicator, registry, nodeId, publishInterval,
                                pusherLagTolerance))));
    }

    static String nodeRole(long nodeId) {
        return NODE_ROLE_PREFIX + nodeId;
    }

    private SharedTimelineState(ActorContext<Command> ctx, TimerScheduler<Command> timers,
                                ReplicatorMessageAdapter<Command, LWWMap<String, TimelineEntry>> replicator,
                                ActorRef<TimelineRegistry.Command> registry, long nodeId, Duration publishInterval,
                                long pusherLagTolerance) {
        super(ctx);
        this.pusherLagTolerance = pusherLagTolerance;
        this.replicator = replicator;
        this.timers = timers;
        this.publishInterval = publishInterval;
        this.nodeId = nodeId;
        this.self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
        this.cluster = Cluster.get(ctx.getSystem());
        replicator.subscribe(KEY, Replicated::new);
        // One adapter for all member events (adapters match by class, MemberRemoved is one of them).
        // Who is up and reachable decides the pusher: look again at once when that changes.
        cluster.subscriptions().tell(Subscribe.create(
                ctx.messageAdapter(ClusterEvent.MemberEvent.class, e -> e instanceof ClusterEvent.MemberRemoved removed
                        ? new MemberRemoved(removed.member().uniqueAddress()) : MembershipChanged.INSTANCE),
                ClusterEvent.MemberEvent.class));
        cluster.subscriptions().tell(Subscribe.create(
                ctx.messageAdapter(ClusterEvent.ReachabilityEvent.class, e -> MembershipChanged.INSTANCE),
                ClusterEvent.ReachabilityEvent.class));
        timers.startTimerWithFixedDelay(Evaluate.INSTANCE, REEVALUATE_EVERY);
        registry.tell(new TimelineRegistry.WatchTimelines(ctx.messageAdapter(TimelineRegistry.TimelineStarted.class,
                Started::new)));
        registry.tell(new TimelineRegistry.AttachCluster(ctx.messageAdapter(ClusterTimelines.Query.class, Query::new)));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Started.class, this::onStarted)
                .onMessage(Observed.class, this::onObserved)
                .onMessage(PushObserved.class, observed -> {
                    pushes.put(observed.id(), observed.progress());
                    return onChange(observed.id());
                })
                .onMessage(ConsumersObserved.class, observed -> {
                    pulls.put(observed.id(), observed.pulls());
                    return onChange(observed.id());
                })
                .onMessage(MembershipChanged.class, changed -> {
                    evaluate(false);
                    return this;
                })
                .onMessage(Evaluate.class, tick -> {
                    evaluate(true);
                    return this;
                })
                .onMessage(PublishDue.class, due -> {
                    publishIfChanged(due.id());
                    return this;
                })
                .onMessage(TimelineStopped.class, this::onTimelineStopped)
                .onMessage(MemberRemoved.class, this::onMemberRemoved)
                .onMessage(Replicated.class, this::onReplicated)
                .onMessage(Updated.class, updated -> {
                    if (updated.response() instanceof Replicator.UpdateSuccess) {
                        return this;
                    }
                    // While the node shuts down the replicator is gone first: nothing to warn about.
                    if (CoordinatedShutdown.get(getContext().getSystem()).getShutdownReason().isPresent()) {
                        getContext().getLog().debug("shared timeline state not updated: {}", updated.response());
                    } else {
                        getContext().getLog().warn("shared timeline state not updated: {}", updated.response());
                    }
                    return this;
                })
                .onMessage(Listening.class, listening -> {
                    listen = listening.listen();
                    published.clear(); // republish every timeline with the address
                    latest.keySet().forEach(this::publishIfChanged);
                    return this;
                })
                .onMessage(Query.class, query -> {
                    query.query().replyTo().tell(view(query.query()));
                    return this;
                })
                .build();
    }

    private Behavior<Command> onStarted(Started message) {
        TenantTimelineId id = message.started().id();
        ActorRef<Timeline.Command> timeline = message.started().timeline();
        ActorRef<Object> watcher = getContext().spawnAnonymous(watcher(id, timeline, getContext().getSelf()));
        watchers.put(id, watcher);
        timelines.put(id, timeline);
        getContext().watchWith(timeline, new TimelineStopped(id));
        return this;
    }

    /**
     * Forwards a timeline's positions and push progress with its id. A timeline that restarts
     * (its ref survives, its subscribers are forgotten) or turns unavailable interrupts its
     * position subscribers: watch it again a moment later.
     */
    private static Behavior<Object> watcher(TenantTimelineId id, ActorRef<Timeline.Command> timeline,
                                            ActorRef<Command> parent) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timeline.tell(new Timeline.WatchPositions(ctx.getSelf().narrow()));
            timeline.tell(new Timeline.WatchPush(ctx.getSelf().narrow()));
            timers.startTimerWithFixedDelay(PollConsumers.INSTANCE, CONSUMERS_EVERY);
            List<List<TimelineEntry.ConsumerEntry>> last = new ArrayList<>(List.of(List.of()));
            return Behaviors.receiveMessage(message -> {
                if (message == PollConsumers.INSTANCE) {
                    timeline.tell(new Timeline.GetConsumers(ctx.getSelf().narrow()));
                } else if (message instanceof Timeline.Consumers consumers) {
                    List<TimelineEntry.ConsumerEntry> now = consumers.consumers().stream()
                            .map(c -> new TimelineEntry.ConsumerEntry(c.address(), c.kind(), c.flushLsn().value()))
                            .toList();
                    if (!now.equals(last.get(0))) {
                        last.set(0, now);
                        parent.tell(new ConsumersObserved(id, now));
                    }
                }
                if (message instanceof Timeline.Positions positions) {
                    parent.tell(new Observed(id, positions));
                } else if (message instanceof Timeline.PushProgress progress) {
                    parent.tell(new PushObserved(id, progress));
                } else if (message instanceof Timeline.Interrupted) {
                    timers.startSingleTimer(Rewatch.INSTANCE, REWATCH_AFTER);
                } else if (message == Rewatch.INSTANCE) {
                    timeline.tell(new Timeline.WatchPositions(ctx.getSelf().narrow()));
                    timeline.tell(new Timeline.WatchPush(ctx.getSelf().narrow()));
                }
                return Behaviors.same();
            });
        }));
    }

    private Behavior<Command> onObserved(Observed observed) {
        Timeline.Positions p = observed.positions();
        // A timeline actor also exists for a timeline asked about but never created here.
        if (p.term() == 0 && !p.flushLsn().isValid()) {
            return this;
        }
        latest.put(observed.id(), p);
        return onChange(observed.id());
    }

    private Behavior<Command> onChange(TenantTimelineId id) {
        if (!timers.isTimerActive(id)) {
            // The first change after a quiet spell goes out at once; later ones wait for the timer.
            publishIfChanged(id);
        }
        return this;
    }

    private void publishIfChanged(TenantTimelineId id) {
        Timeline.Positions p = latest.get(id);
        if (p == null) {
            return;
        }
        Timeline.PushProgress push = pushes.getOrDefault(id, new Timeline.PushProgress(false, List.of()));
        Map<String, Long> downstreams = new LinkedHashMap<>();
        push.downstreams().forEach(d -> downstreams.put(d.downstream(), d.flushLsn().value()));
        // Pull clients as the timeline listed them; push consumers are the downstreams while pushing.
        List<TimelineEntry.ConsumerEntry> consumers = new ArrayList<>(pulls.getOrDefault(id, List.of()));
        if (push.pushing()) {
            push.downstreams().forEach(d -> consumers.add(new TimelineEntry.ConsumerEntry(d.downstream(), "push",
                    d.flushLsn().value())));
        }
        TimelineEntry entry = new TimelineEntry(id.tenantId(), id.timelineId(), self.uniqueAddress().address().toString(),
                self.uniqueAddress().longUid(), nodeId, p.term(), p.lastLogTerm(), p.flushLsn().value(),
                p.commitLsn().value(), push.pushing(), downstreams, listen, List.copyOf(consumers));
        if (entry.equals(published.get(id))) {
            return;
        }
        published.put(id, entry);
        update(map -> map.put(self, entry.key(), entry));
        // Our own entry counts for the choice at once, not only once the replicator notifies us.
        Map<String, TimelineEntry> withOwn = new HashMap<>(entries);
        withOwn.put(entry.key(), entry);
        entries = Map.copyOf(withOwn);
        timers.startSingleTimer(id, new PublishDue(id), publishInterval);
        evaluate(false);
    }

    private Behavior<Command> onTimelineStopped(TimelineStopped stopped) {
        TenantTimelineId id = stopped.id();
        ActorRef<Object> watcher = watchers.remove(id);
        if (watcher != null) {
            getContext().stop(watcher);
        }
        timers.cancel(id);
        latest.remove(id);
        pushes.remove(id);
        pulls.remove(id);
        timelines.remove(id);
        roles.remove(id);
        if (published.remove(id) != null) {
            String key = TimelineEntry.key(self.uniqueAddress().address().toString(), self.uniqueAddress().longUid(), id);
            update(map -> map.remove(self, key));
        }
        return this;
    }

    private Behavior<Command> onMemberRemoved(MemberRemoved removed) {
        String address = removed.member().address().toString();
        long uid = removed.member().longUid();
        update(map -> {
            LWWMap<String, TimelineEntry> out = map;
            for (TimelineEntry e : map.getEntries().values()) {
                if (e.address().equals(address) && e.uid() == uid) {
                    out = out.remove(self, e.key());
                }
            }
            return out;
        });
        evaluate(false);
        return this;
    }

    private Behavior<Command> onReplicated(Replicated replicated) {
        if (replicated.response() instanceof Replicator.Changed<LWWMap<String, TimelineEntry>> changed) {
            entries = Map.copyOf(changed.get(KEY).getEntries());
            evaluate(false);
        }
        return this;
    }

    /**
     * Tells each timeline held and published here whether this node pushes it, when that changed
     * (or always, with {@code retell}). One never published cannot be chosen and keeps no role.
     */
    private void evaluate(boolean retell) {
        if (published.isEmpty()) {
            return;
        }
        ClusterTimelines.View view = view(null);
        String selfAddress = cluster.selfMember().address().toString();
        timelines.forEach((id, timeline) -> {
            if (!published.containsKey(id)) {
                return;
            }
            Optional<String> chosen = PusherChoice.choose(view, id, pusherLagTolerance);
            boolean push = chosen.isPresent() && chosen.get().equals(selfAddress);
            Boolean before = roles.put(id, push);
            if (before == null || before != push) {
                getContext().getLog().info("timeline {}: pusher is {}{}", id, chosen.orElse("nobody"),
                        push ? " (this node)" : "");
            }
            if (retell || before == null || before != push) {
                timeline.tell(new Timeline.PushRole(push));
            }
        });
    }

    private void update(UnaryOperator<LWWMap<String, TimelineEntry>> modify) {
        // Local write: gossip (and delta propagation) carry it to the others within a second or two.
        replicator.askUpdate(replyTo -> new Replicator.Update<>(KEY, LWWMap.create(), Replicator.writeLocal(), replyTo,
                modify::apply), Updated::new);
    }

    /** The members as this node sees them now, and the entries of current members only ({@code query} null: all). */
    private ClusterTimelines.View view(ClusterTimelines.Query query) {
        Set<UniqueAddress> unreachable = cluster.state().getUnreachable().stream().map(Member::uniqueAddress)
                .collect(Collectors.toSet());
        UniqueAddress selfAddress = cluster.selfMember().uniqueAddress();
        List<ClusterTimelines.Member> members = new ArrayList<>();
        Map<String, Long> uids = new HashMap<>();
        for (Member m : StreamSupport.stream(cluster.state().getMembers().spliterator(), false).toList()) {
            String status = unreachable.contains(m.uniqueAddress()) ? "unreachable"
                    : m.status().toString().toLowerCase(Locale.ROOT);
            members.add(new ClusterTimelines.Member(m.address().toString(), nodeIdOf(m), status,
                    m.uniqueAddress().equals(selfAddress)));
            uids.put(m.address().toString(), m.uniqueAddress().longUid());
        }
        TenantTimelineId only = query instanceof ClusterTimelines.GetTimeline get ? get.id() : null;
        List<ClusterTimelines.MemberPositions> positions = entries.values().stream()
                .filter(e -> Long.valueOf(e.uid()).equals(uids.get(e.address())))
                .filter(e -> only == null || only.equals(e.id()))
                .sorted(Comparator.comparing((TimelineEntry e) -> e.tenantId() + "/" + e.timelineId())
                        .thenComparingLong(TimelineEntry::nodeId).thenComparing(TimelineEntry::address))
                .map(TimelineEntry::positions)
                .toList();
        return new ClusterTimelines.View(members, positions);
    }

    /** From the member's role; -1 for a member that has none (not a walkeeper node). */
    private static long nodeIdOf(Member member) {
        for (String role : member.getRoles()) {
            if (role.startsWith(NODE_ROLE_PREFIX)) {
                try {
                    return Long.parseLong(role.substring(NODE_ROLE_PREFIX.length()));
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }
}
