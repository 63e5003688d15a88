package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.socket.IncomingSocket;
import dev.walkeeper.actors.socket.SocketIo;
import dev.walkeeper.actors.socket.TcpSocketFactory;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * Binds the PostgreSQL-protocol port and supervises one {@link Connection} per accepted socket.
 * A connection that fails is stopped alone (and logged by Pekko); the listener and every other
 * connection go on.
 */
public final class Listener {

    public sealed interface Command {}

    private record Accepted(IncomingSocket connection) implements Command {}

    /** Ask the listener to stop accepting; it replies once the port is released. */
    public record Unbind(ActorRef<Unbound> replyTo) implements Command {}

    public record Unbound() {}

    /** The answer to {@link #create}: where the node listens, or why it could not bind. */
    public sealed interface BindResult {}

    public record Bound(InetSocketAddress address) implements BindResult {}

    public record BindFailed(String host, int port, Throwable cause) implements BindResult {}

    /** Creates connection behaviours; tests replace it to inject failures. */
    @FunctionalInterface
    public interface ConnectionFactory {
        Behavior<Connection.Command> create(IncomingSocket connection);

        /** Where the connections run: the default dispatcher unless they block. */
        default Props props() {
            return Props.empty();
        }
    }

    public static ConnectionFactory tcpConnections(ConnectionSettings settings,
                                                   ActorRef<TimelineRegistry.Command> timelines) {
        return tcpConnections(settings, timelines, null);
    }

    /**
     * With {@code pushReceivers} (nullable) the node also accepts START_PUSH_REPLICATION; such a
     * connection writes and fsyncs pushed WAL in a child on the blocking dispatcher, so it runs
     * where every other connection does.
     */
    public static ConnectionFactory tcpConnections(ConnectionSettings settings,
                                                   ActorRef<TimelineRegistry.Command> timelines,
                                                   PushReceivers pushReceivers) {
        return new ConnectionFactory() {
            @Override
            public Behavior<Connection.Command> create(IncomingSocket incoming) {
                return Connection.create(settings, timelines, pushReceivers, incoming.remoteAddress(),
                        new TcpSocketFactory(incoming, () -> FrameDecoder.forServer(settings.maxMessageSize()),
                                FrontendCodec::decode));
            }
        };
    }

    public static Behavior<Command> create(String host, int port, ConnectionFactory connections,
                                           ActorRef<BindResult> replyTo) {
        return Behaviors.setup(ctx -> {
            SocketIo.Binding binding;
            try {
                binding = SocketIo.get(ctx.getSystem()).bind(new InetSocketAddress(host, port),
                        incoming -> ctx.getSelf().tell(new Accepted(incoming)));
            } catch (IOException | RuntimeException e) {
                replyTo.tell(new BindFailed(host, port, e));
                return Behaviors.stopped();
            }
            replyTo.tell(new Bound(binding.localAddress()));
            return listening(ctx, binding, connections, new AtomicLong());
        });
    }

    private static Behavior<Command> listening(ActorContext<Command> ctx, SocketIo.Binding binding,
                                               ConnectionFactory connections, AtomicLong counter) {
        ctx.getLog().info("accepting PostgreSQL-protocol connections on {}", binding.localAddress());
        return Behaviors.receive(Command.class)
                .onMessage(Accepted.class, a -> {
                    spawnConnection(ctx, connections, a.connection(), counter);
                    return Behaviors.same();
                })
                .onMessage(Unbind.class, u -> {
                    binding.unbind().whenComplete((ok, failure) -> u.replyTo().tell(new Unbound()));
                    return Behaviors.same();
                })
                .onSignal(PostStop.class, s -> {
                    binding.unbind();
                    return Behaviors.same();
                })
                .build();
    }

    private static void spawnConnection(ActorContext<Command> ctx, ConnectionFactory connections,
                                        IncomingSocket incoming, AtomicLong counter) {
        InetSocketAddress remote = incoming.remoteAddress();
        String name = "conn-" + counter.incrementAndGet() + "-" + remote.getPort();
        ctx.spawn(Behaviors.supervise(connections.create(incoming))
                .onFailure(Exception.class, SupervisorStrategy.stop()), name, connections.props());
    }
}
