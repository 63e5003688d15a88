package dev.walkeeper.cluster;

import dev.walkeeper.actors.connection.Listener;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.actors.timeline.WalStores;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/** The root of a node's actor tree: it starts the timelines and the listener, and reports where it bound. */
final class NodeGuardian {

    sealed interface Command {}

    record Start(ActorRef<Listener.BindResult> replyTo) implements Command {}

    private NodeGuardian() {}

    /** {@code pushReceivers}: null unless the node accepts START_PUSH_REPLICATION. */
    static Behavior<Command> create(NodeSettings settings, WalStores walStores, PushReceivers pushReceivers) {
        return Behaviors.setup(ctx -> Behaviors.receive(Command.class)
                .onMessage(Start.class, start -> {
                    ActorRef<TimelineRegistry.Command> timelines = ctx.spawn(
                            TimelineRegistry.create(settings.nodeId(), walStores, settings.downstreams(),
                                    settings.cluster().enabled()), "timelines");
                    if (settings.cluster().enabled()) {
                        ctx.spawn(SharedTimelineState.create(timelines, settings.nodeId(),
                                settings.cluster().publishInterval(), settings.cluster().pusherLagTolerance()),
                                "shared-timeline-state");
                    }
                    ctx.spawn(Listener.create(settings.host(), settings.port(),
                            Listener.tcpConnections(settings.connection(), timelines, pushReceivers),
                            start.replyTo()), "listener");
                    return Behaviors.empty();
                })
                .build());
    }
}
