package dev.walkeeper.cluster;

import dev.walkeeper.actors.connection.Listener;
import dev.walkeeper.actors.recovery.RecoverySettings;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.actors.timeline.WalStores;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.nio.file.Files;
import java.util.function.Predicate;
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
                    settings.downstreams().keySet().stream().filter(onDisk).forEach(id ->
                            timelines.tell(new TimelineRegistry.Get(id, ctx.getSystem().ignoreRef())));
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
                    return Behaviors.empty();
                })
                .build());
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
