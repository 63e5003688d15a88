package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.metrics.NodeMetrics;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.socket.IncomingSocket;
import dev.walkeeper.actors.socket.SocketIo;
import dev.walkeeper.actors.socket.TcpSocketFactory;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.HashMap;
import java.util.Map;
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
 *
 * <p>It also keeps the connection limits: it watches the connections it admitted, so it knows how
 * many are open; one accepted beyond {@code max-connections} is spawned refused (it answers FATAL
 * 53300 and closes), and an authenticated connection asks it ({@link AdmitUser}) whether its user
 * is within {@code max-connections-per-user}. Counting in this one actor keeps the counts exact
 * without shared state.
 */
public final class Listener {

    public sealed interface Command {}

    private record Accepted(IncomingSocket connection) implements Command {}

    private record ConnectionEnded(ActorRef<Connection.Command> connection) implements Command {}

    /** An authenticated connection asks whether its user may hold one more connection. */
    public record AdmitUser(String user, ActorRef<Connection.Command> connection, ActorRef<UserAdmission> replyTo)
            implements Command {}

    /** The answer to {@link AdmitUser}: null when admitted, else why not. */
    public record UserAdmission(String refusal) {
        boolean admitted() {
            return refusal == null;
        }
    }

    /**
     * What the listener decided on accepting a socket, handed to the new connection.
     *
     * @param listener whom the connection asks about its user once authenticated
     * @param refusal  null when admitted; else the connection answers FATAL 53300 with it and closes
     */
    public record Admission(ActorRef<Command> listener, String refusal) {}

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
        Behavior<Connection.Command> create(IncomingSocket connection, Admission admission);

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
            public Behavior<Connection.Command> create(IncomingSocket incoming, Admission admission) {
                return Connection.create(settings, timelines, pushReceivers, admission, incoming.remoteAddress(),
                        new TcpSocketFactory(incoming, () -> FrameDecoder.forServer(settings.maxMessageSize()),
                                FrontendCodec::decode));
            }
        };
    }

    /** Without connection limits. */
    public static Behavior<Command> create(String host, int port, ConnectionFactory connections,
                                           ActorRef<BindResult> replyTo) {
        return create(host, port, ConnectionSettings.Limits.NONE, connections, replyTo);
    }

    public static Behavior<Command> create(String host, int port, ConnectionSettings.Limits limits,
                                           ConnectionFactory connections, ActorRef<BindResult> replyTo) {
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
            return new Listener(ctx, binding, limits, connections).listening();
        });
    }

    private final ActorContext<Command> ctx;
    private final SocketIo.Binding binding;
    private final ConnectionSettings.Limits limits;
    private final ConnectionFactory connections;
    private final AtomicLong counter = new AtomicLong();
    /** The open connections the listener admitted: their user once authenticated, else "". */
    private final Map<ActorRef<Connection.Command>, String> open = new HashMap<>();
    private final Map<String, Integer> perUser = new HashMap<>();
    /** How many of {@link #open} are authenticated. */
    private int authenticated;
    private final NodeMetrics metrics;

    private Listener(ActorContext<Command> ctx, SocketIo.Binding binding, ConnectionSettings.Limits limits,
                     ConnectionFactory connections) {
        this.ctx = ctx;
        this.binding = binding;
        this.limits = limits;
        this.connections = connections;
        this.metrics = NodeMetrics.get(ctx.getSystem());
    }

    private void reportConnections() {
        metrics.connections(open.size() - authenticated, authenticated);
    }

    private Behavior<Command> listening() {
        ctx.getLog().info("accepting PostgreSQL-protocol connections on {}", binding.localAddress());
        return Behaviors.receive(Command.class)
                .onMessage(Accepted.class, a -> {
                    spawnConnection(a.connection());
                    return Behaviors.same();
                })
                .onMessage(ConnectionEnded.class, e -> {
                    String user = open.remove(e.connection());
                    if (user != null && !user.isEmpty()) {
                        perUser.computeIfPresent(user, (u, n) -> n == 1 ? null : n - 1);
                        authenticated--;
                    }
                    reportConnections();
                    return Behaviors.same();
                })
                .onMessage(AdmitUser.class, a -> {
                    a.replyTo().tell(admitUser(a.user(), a.connection()));
                    return Behaviors.same();
                })
                .onMessage(Unbind.class, u -> {
                    binding.unbind().whenComplete((ok, failure) -> u.replyTo().tell(new Unbound()));
                    return Behaviors.same();
                })
                .onSignal(PostStop.class, s -> {
                    binding.unbind();
                    metrics.connections(0, 0); // the connections are its children: they stopped with it
                    return Behaviors.same();
                })
                .build();
    }

    private void spawnConnection(IncomingSocket incoming) {
        InetSocketAddress remote = incoming.remoteAddress();
        String name = "conn-" + counter.incrementAndGet() + "-" + remote.getPort();
        boolean full = limits.maxConnections() > 0 && open.size() >= limits.maxConnections();
        // A refused connection still answers (PostgreSQL's "sorry, too many clients already") but is
        // not counted: it only drains.
        Admission admission = new Admission(ctx.getSelf(), full ? "sorry, too many clients already" : null);
        if (full) {
            ctx.getLog().info("{}: refusing a connection: {} connections are open (max-connections)", remote,
                    open.size());
        }
        ActorRef<Connection.Command> connection = ctx.spawn(Behaviors.supervise(connections.create(incoming, admission))
                .onFailure(Exception.class, SupervisorStrategy.stop()), name, connections.props());
        if (!full) {
            open.put(connection, "");
            ctx.watchWith(connection, new ConnectionEnded(connection));
            reportConnections();
        }
    }

    private UserAdmission admitUser(String user, ActorRef<Connection.Command> connection) {
        if (!open.containsKey(connection)) {
            return new UserAdmission("connection not admitted"); // it ended meanwhile; nobody reads this
        }
        int held = perUser.getOrDefault(user, 0);
        if (limits.maxConnectionsPerUser() > 0 && held >= limits.maxConnectionsPerUser()) {
            ctx.getLog().info("{}: refusing user \"{}\": {} connections open (max-connections-per-user)",
                    connection.path().name(), user, held);
            return new UserAdmission("too many connections for role \"" + user + "\"");
        }
        open.put(connection, user);
        perUser.put(user, held + 1);
        authenticated++;
        reportConnections();
        return new UserAdmission(null);
    }
}
