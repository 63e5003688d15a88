package dev.walkeeper.cluster;

import dev.walkeeper.actors.connection.Listener;
import dev.walkeeper.actors.recovery.RecoverySettings;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.actors.timeline.WalStores;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.actors.timeline.Timeline;
import java.nio.file.Files;
import java.util.List;
import java.util.function.Predicate;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The root of a node's actor tree: it starts the timelines (opening at once those on disk that
 * have configured downstreams), the shared state and downstream registrations of a cluster member,
 * and the listener, and reports where it bound.
 */
final class NodeGuardian {

    sealed interface Command {}

    record Start(ActorRef<Listener.BindResult> replyTo) implements Command {}

    /**
     * After Start: {@code Done} once the timelines the node opened at start have recovered (their
     * journal replayed and WAL scanned), for /ready.
     */
    record AwaitTimelinesRecovered(ActorRef<Done> replyTo) implements Command {}

    /** The registered downstreams as this node last saw them, in its data directory. */
    static final String DOWNSTREAMS_FILE = "downstreams.bin";

    private NodeGuardian() {}

    /** {@code pushReceivers}: null unless the node accepts START_PUSH_REPLICATION. */
    static Behavior<Command> create(NodeSettings settings, WalStores walStores, PushReceivers pushReceivers) {
        return Behaviors.setup(ctx -> Behaviors.receive(Command.class)
                .onMessage(Start.class, start -> {
                    ActorRef<TimelineRegistry.Command> timelines = ctx.spawn(
                            TimelineRegistry.create(settings.nodeId(), walStores, settings.downstreams(),
                                    settings.cluster().enabled(),
                                    settings.cluster().enabled() ? settings.recovery() : RecoverySettings.DISABLED),
                            "timelines");
                    // A restarted node pushes its configured downstreams' timelines without waiting for a proposer.
                    Predicate<TenantTimelineId> onDisk = id -> Files.isDirectory(walStores.directory(id));
                    List<TenantTimelineId> opened = settings.downstreams().keySet().stream().filter(onDisk).toList();
                    opened.forEach(id -> timelines.tell(new TimelineRegistry.Get(id, ctx.getSystem().ignoreRef())));
                    ActorRef<Listener.BindResult> bound = start.replyTo();
                    if (settings.cluster().enabled()) {
                        ActorRef<SharedTimelineState.Command> shared = ctx.spawn(SharedTimelineState.create(timelines,
                                settings.nodeId(), settings.cluster().publishInterval(),
                                settings.cluster().pusherLagTolerance()), "shared-timeline-state");
                        bound = ctx.spawnAnonymous(publishListenAddress(shared, start.replyTo()));
                        ctx.spawn(SharedDownstreams.create(timelines, settings.pushPasswords(), onDisk,
                                settings.dataDir().resolve(DOWNSTREAMS_FILE)),
                                "shared-downstreams", DispatcherSelector.blocking());
                    }
                    ctx.spawn(Listener.create(settings.host(), settings.port(), settings.connection().limits(),
                            Listener.tcpConnections(settings.connection(), timelines, pushReceivers),
                            bound), "listener");
                    return Behaviors.receive(Command.class)
                            .onMessage(AwaitTimelinesRecovered.class, await -> {
                                ctx.spawnAnonymous(awaitRecovered(timelines, opened, await.replyTo()));
                                return Behaviors.same();
                            })
                            .build();
                })
                .build());
    }

    /**
     * Asks each of {@code ids} for its status: a timeline answers only once it has recovered (a
     * persistent actor stashes commands until then), so the last answer means all have.
     */
    @SuppressWarnings("unchecked") // the registry replies an ActorRef<Timeline.Command>: erased to ActorRef
    private static Behavior<Object> awaitRecovered(ActorRef<TimelineRegistry.Command> timelines,
                                                   List<TenantTimelineId> ids, ActorRef<Done> replyTo) {
        return Behaviors.setup(ctx -> {
            if (ids.isEmpty()) {
                replyTo.tell(Done.getInstance());
                return Behaviors.stopped();
            }
            ActorRef<Timeline.Status> statuses = ctx.getSelf().narrow();
            ActorRef<ActorRef<Timeline.Command>> opened = ctx.getSelf().narrow();
            ids.forEach(id -> timelines.tell(new TimelineRegistry.Get(id, opened)));
            int[] waiting = {ids.size()};
            return Behaviors.receive(Object.class)
                    .onMessage(ActorRef.class, timeline -> {
                        ((ActorRef<Timeline.Command>) timeline).tell(new Timeline.GetStatus(statuses));
                        return Behaviors.same();
                    })
                    .onMessage(Timeline.Status.class, status -> {
                        if (--waiting[0] > 0) {
                            return Behaviors.same();
                        }
                        replyTo.tell(Done.getInstance());
                        return Behaviors.stopped();
                    })
                    .build();
        });
    }

    /**
     * Passes the bind result on, and tells the shared state the bound address (the configured
     * port may be 0): peers recover WAL from it.
     */
    private static Behavior<Listener.BindResult> publishListenAddress(ActorRef<SharedTimelineState.Command> shared,
                                                                     ActorRef<Listener.BindResult> replyTo) {
        return Behaviors.receiveMessage(result -> {
            if (result instanceof Listener.Bound bound) {
                shared.tell(new SharedTimelineState.Listening(
                        bound.address().getHostString() + ":" + bound.address().getPort()));
            }
            replyTo.tell(result);
            return Behaviors.stopped();
        });
    }
}
