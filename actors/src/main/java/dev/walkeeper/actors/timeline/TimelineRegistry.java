package dev.walkeeper.actors.timeline;

import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.actors.replication.PushReplicator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
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
 * fail the actor: the timeline stays, unavailable (see {@link Timeline}).
 */
public final class TimelineRegistry {

    public sealed interface Command {}

    /** Replies with the timeline's actor, starting it if needed. */
    public record Get(TenantTimelineId id, ActorRef<ActorRef<Timeline.Command>> replyTo) implements Command {}

    private record Stopped(TenantTimelineId id) implements Command {}

    /** Configured by {@code walkeeper.timeline-dispatcher}: WAL writes may block, so timelines get their own threads. */
    public static final String DISPATCHER = "walkeeper.timeline-dispatcher";

    /**
     * Names the dispatcher timeline actors run on ({@link #DISPATCHER} when unset). Their fsyncs
     * run in their flushers on the blocking dispatcher, but writes, segment creation without a
     * spare and the synchronous flush before a vote still run on the timeline's own thread.
     */
    public static final String ACTOR_DISPATCHER_SETTING = "walkeeper.timeline-actor-dispatcher";

    private TimelineRegistry() {}

    public static Behavior<Command> create(long nodeId, WalStores walStores) {
        return create(nodeId, walStores, Map.of());
    }

    /** {@code downstreams}: per timeline, where its committed WAL is pushed. */
    public static Behavior<Command> create(long nodeId, WalStores walStores,
                                           Map<TenantTimelineId, List<PushReplicator.Downstream>> downstreams) {
        // Outlives every timeline actor (restarts included): a failed fsync is never retried.
        Map<TenantTimelineId, String> syncFailures = new java.util.concurrent.ConcurrentHashMap<>();
        return Behaviors.setup(ctx -> running(ctx, nodeId, walStores, Map.copyOf(downstreams), new HashMap<>(),
                syncFailures));
    }

    private static DispatcherSelector timelineDispatcher(ActorContext<?> ctx) {
        com.typesafe.config.Config config = ctx.getSystem().settings().config();
        String path = config.hasPath(ACTOR_DISPATCHER_SETTING) ? config.getString(ACTOR_DISPATCHER_SETTING) : "";
        return DispatcherSelector.fromConfig(path.isEmpty() ? DISPATCHER : path);
    }

    private static Behavior<Command> running(ActorContext<Command> ctx, long nodeId, WalStores walStores,
                                             Map<TenantTimelineId, List<PushReplicator.Downstream>> downstreams,
                                             Map<TenantTimelineId, ActorRef<Timeline.Command>> timelines,
                                             Map<TenantTimelineId, String> syncFailures) {
        return Behaviors.receive(Command.class)
                .onMessage(Get.class, get -> {
                    ActorRef<Timeline.Command> timeline = timelines.computeIfAbsent(get.id(), id -> {
                        ActorRef<Timeline.Command> ref = ctx.spawn(
                                Behaviors.supervise(Timeline.create(id, nodeId, walStores,
                                                downstreams.getOrDefault(id, List.of()), syncFailures))
                                        .onFailure(SupervisorStrategy.restartWithBackoff(
                                                Duration.ofMillis(200), Duration.ofSeconds(10), 0.2)),
                                "timeline-" + id.tenantId() + "-" + id.timelineId(),
                                timelineDispatcher(ctx));
                        ctx.watchWith(ref, new Stopped(id));
                        return ref;
                    });
                    get.replyTo().tell(timeline);
                    return Behaviors.same();
                })
                .onMessage(Stopped.class, stopped -> {
                    timelines.remove(stopped.id());
                    return Behaviors.same();
                })
                .build();
    }
}
