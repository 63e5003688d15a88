package dev.walkeeper.actors.timeline;

import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.actors.recovery.PeerRecovery;
import dev.walkeeper.actors.recovery.RecoverySettings;
import dev.walkeeper.actors.recovery.TimelineCopy;
import dev.walkeeper.actors.replication.PushReplicator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import java.time.Duration;

/**
 * Owns one {@link Timeline} per (tenant, timeline), created on first use and supervised: a
 * timeline that fails (a write error, a journal failure) is restarted with backoff, which re-reads
 * its journal and finds the end of its WAL again, as a node restart would. A failed fsync does not
 * fail the actor: the timeline stays, unavailable (see {@link Timeline}). With recovery enabled,
 * each timeline also gets a {@link PeerRecovery}, which fetches WAL from a peer when it lags.
 */
public final class TimelineRegistry {

    public sealed interface Command {}

    /** Replies with the timeline's actor, starting it if needed. */
    public record Get(TenantTimelineId id, ActorRef<ActorRef<Timeline.Command>> replyTo) implements Command {}

    /**
     * Tells {@code subscriber} of every timeline actor there is and every one started later (a
     * restarted one keeps its ref; a stopped one is for the subscriber to watch).
     */
    public record WatchTimelines(ActorRef<TimelineStarted> subscriber) implements Command {}

    public record TimelineStarted(TenantTimelineId id, ActorRef<Timeline.Command> timeline) {}

    /** From now on {@link AskCluster} goes to {@code cluster}, the node's shared timeline state. */
    public record AttachCluster(ActorRef<ClusterTimelines.Query> cluster) implements Command {}

    /** Asks the attached shared state; with none (no cluster member), answers with no members. */
    public record AskCluster(ClusterTimelines.Query query) implements Command {}

    /** From now on {@link AskDownstreams} goes to {@code downstreams}, the runtime-registered downstreams. */
    public record AttachDownstreams(ActorRef<RuntimeDownstreams.Request> downstreams) implements Command {}

    /** Asks the attached downstream registrations; with none (no cluster member), refuses with 55000. */
    public record AskDownstreams(RuntimeDownstreams.Request request) implements Command {}

    /**
     * Copies timeline {@code id}, which this node lacks, from a peer ({@code from} HOST:PORT, or
     * null to choose the most advanced member): see {@link TimelineCopy}. The copy runs here, so
     * it goes on if the asking connection closes.
     */
    public record CopyTimeline(TenantTimelineId id, String from, ActorRef<TimelineCopy.Result> replyTo)
            implements Command {}

    private record Stopped(TenantTimelineId id) implements Command {}

    private record SubscriberGone(ActorRef<TimelineStarted> subscriber) implements Command {}

    /** Configured by {@code walkeeper.timeline-dispatcher}: WAL writes may block, so timelines get their own threads. */
    public static final String DISPATCHER = "walkeeper.timeline-dispatcher";

    /**
     * Names the dispatcher timeline actors run on ({@link #DISPATCHER} when unset). Their fsyncs
     * run in their flushers on the blocking dispatcher, but writes, segment creation without a
     * spare and the synchronous flush before a vote still run on the timeline's own thread.
     */
    public static final String ACTOR_DISPATCHER_SETTING = "walkeeper.timeline-actor-dispatcher";

    private TimelineRegistry() {}

    /** Who wants to know of new timelines, and the cluster's shared state (null until attached). */
    private static final class Observers {
        final Set<ActorRef<TimelineStarted>> timelines = new LinkedHashSet<>();
        ActorRef<ClusterTimelines.Query> cluster;
        ActorRef<RuntimeDownstreams.Request> downstreams;
    }

    public static Behavior<Command> create(long nodeId, WalStores walStores) {
        return create(nodeId, walStores, Map.of());
    }

    /** {@code downstreams}: per timeline, where its committed WAL is pushed (by this node alone). */
    public static Behavior<Command> create(long nodeId, WalStores walStores,
                                           Map<TenantTimelineId, List<PushReplicator.Downstream>> downstreams) {
        return create(nodeId, walStores, downstreams, false, RecoverySettings.DISABLED);
    }

    /**
     * As {@link #create(long, WalStores, Map)}; with {@code clusterPushes} (a cluster member) a
     * timeline pushes only once told {@link Timeline.PushRole} (by the shared timeline state,
     * which chooses one member per timeline), otherwise as soon as it exists. {@code recovery}:
     * whether and how each timeline fetches WAL it lacks from its peers.
     */
    public static Behavior<Command> create(long nodeId, WalStores walStores,
                                           Map<TenantTimelineId, List<PushReplicator.Downstream>> downstreams,
                                           boolean clusterPushes, RecoverySettings recovery) {
        // Outlives every timeline actor (restarts included): a failed fsync is never retried.
        Map<TenantTimelineId, String> syncFailures = new java.util.concurrent.ConcurrentHashMap<>();
        return Behaviors.setup(ctx -> running(ctx, nodeId, walStores, Map.copyOf(downstreams), clusterPushes,
                new HashMap<>(), syncFailures, new Observers(), recovery));
    }

    private static DispatcherSelector timelineDispatcher(ActorContext<?> ctx) {
        com.typesafe.config.Config config = ctx.getSystem().settings().config();
        String path = config.hasPath(ACTOR_DISPATCHER_SETTING) ? config.getString(ACTOR_DISPATCHER_SETTING) : "";
        return DispatcherSelector.fromConfig(path.isEmpty() ? DISPATCHER : path);
    }

    private static Behavior<Command> running(ActorContext<Command> ctx, long nodeId, WalStores walStores,
                                             Map<TenantTimelineId, List<PushReplicator.Downstream>> downstreams,
                                             boolean clusterPushes,
                                             Map<TenantTimelineId, ActorRef<Timeline.Command>> timelines,
                                             Map<TenantTimelineId, String> syncFailures,
                                             Observers observers, RecoverySettings recovery) {
        Function<TenantTimelineId, ActorRef<Timeline.Command>> timelineOf =
                key -> timelines.computeIfAbsent(key, id -> {
                    ActorRef<Timeline.Command> ref = ctx.spawn(
                            Behaviors.supervise(Timeline.create(id, nodeId, walStores,
                                            downstreams.getOrDefault(id, List.of()), syncFailures, clusterPushes))
                                    .onFailure(SupervisorStrategy.restartWithBackoff(
                                            Duration.ofMillis(200), Duration.ofSeconds(10), 0.2)),
                            "timeline-" + id.tenantId() + "-" + id.timelineId(),
                            timelineDispatcher(ctx));
                    ctx.watchWith(ref, new Stopped(id));
                    if (recovery.enabled()) {
                        // Anonymous: it stops with its timeline, maybe after a new one of that id started.
                        ctx.spawnAnonymous(PeerRecovery.create(id, nodeId, ref, ctx.getSelf(), recovery,
                                PeerRecovery.tcp(recovery)));
                    }
                    observers.timelines.forEach(w -> w.tell(new TimelineStarted(id, ref)));
                    return ref;
                });
        return Behaviors.receive(Command.class)
                .onMessage(Get.class, get -> {
                    get.replyTo().tell(timelineOf.apply(get.id()));
                    return Behaviors.same();
                })
                .onMessage(CopyTimeline.class, copy -> {
                    ctx.spawnAnonymous(TimelineCopy.create(copy.id(), nodeId, timelineOf.apply(copy.id()), ctx.getSelf(),
                            recovery, PeerRecovery.tcp(recovery), copy.from(), copy.replyTo()));
                    return Behaviors.same();
                })
                .onMessage(Stopped.class, stopped -> {
                    timelines.remove(stopped.id());
                    return Behaviors.same();
                })
                .onMessage(WatchTimelines.class, watch -> {
                    if (observers.timelines.add(watch.subscriber())) {
                        ctx.watchWith(watch.subscriber(), new SubscriberGone(watch.subscriber()));
                        timelines.forEach((id, ref) -> watch.subscriber().tell(new TimelineStarted(id, ref)));
                    }
                    return Behaviors.same();
                })
                .onMessage(SubscriberGone.class, gone -> {
                    observers.timelines.remove(gone.subscriber());
                    return Behaviors.same();
                })
                .onMessage(AttachCluster.class, attach -> {
                    observers.cluster = attach.cluster();
                    return Behaviors.same();
                })
                .onMessage(AttachDownstreams.class, attach -> {
                    observers.downstreams = attach.downstreams();
                    return Behaviors.same();
                })
                .onMessage(AskDownstreams.class, ask -> {
                    if (observers.downstreams != null) {
                        observers.downstreams.tell(ask.request());
                    } else {
                        ask.request().replyTo().tell(RuntimeDownstreams.Reply.refused(
                                SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE, "downstreams are registered at runtime"
                                        + " only on cluster members (walkeeper.cluster.enabled); this node pushes to"
                                        + " walkeeper.push.downstreams alone"));
                    }
                    return Behaviors.same();
                })
                .onMessage(AskCluster.class, ask -> {
                    if (observers.cluster != null) {
                        observers.cluster.tell(ask.query());
                    } else {
                        ask.query().replyTo().tell(ClusterTimelines.View.NONE);
                    }
                    return Behaviors.same();
                })
                .build();
    }
}
