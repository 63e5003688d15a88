package dev.walkeeper.actors.bridge;

import dev.walkeeper.actors.consensus.Proposer;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The {@link Bridge}'s node connections, one {@link NodeProposerConnection} per node in the
 * proposer's node order: spawning them (a new generation per reconnect, so a replaced
 * connection's late events are told apart), the backoff before a reconnect, sending the
 * proposer's output as shared frames, and the warning when a node falls behind. Owned by the
 * bridge actor and only used from its message handling; the proposer decides, this class only
 * carries out.
 */
final class NodeConnections {

    private final ActorContext<Bridge.Command> ctx;
    private final TimerScheduler<Bridge.Command> timers;
    private final Bridge.Settings settings;
    private final Function<InetSocketAddress, SocketFactory> sockets;
    private final ActorRef<NodeProposerConnection.Event> events;
    private final CommitTrace trace;
    private final ActorRef<NodeProposerConnection.Command>[] connections;
    private final Duration[] backoff;
    private final int[] generation;
    /** Whether each node was BEHIND after the last round, so the warning is logged once per time. */
    private final boolean[] behind;
    /** Set by {@link #spawnAll}: there are no connections before the proposer exists. */
    private Proposer proposer;

    @SuppressWarnings("unchecked")
    NodeConnections(ActorContext<Bridge.Command> ctx, TimerScheduler<Bridge.Command> timers, Bridge.Settings settings,
                    Function<InetSocketAddress, SocketFactory> sockets, ActorRef<NodeProposerConnection.Event> events,
                    CommitTrace trace) {
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.sockets = sockets;
        this.events = events;
        this.trace = trace;
        int n = settings.nodes().size();
        this.connections = new ActorRef[n];
        this.backoff = new Duration[n];
        Arrays.fill(backoff, settings.minBackoff());
        this.generation = new int[n];
        this.behind = new boolean[n];
    }

    /** A connection to every node, for the proposer that was just built. */
    void spawnAll(Proposer proposer) {
        this.proposer = proposer;
        for (int i = 0; i < connections.length; i++) {
            connections[i] = spawn(i);
        }
    }

    /** The node index of a current connection, or -1 for a connection already replaced. */
    int indexOf(ActorRef<NodeProposerConnection.Command> connection) {
        for (int i = 0; i < connections.length; i++) {
            if (connection.equals(connections[i])) {
                return i;
            }
        }
        return -1;
    }

    InetSocketAddress address(int node) {
        return settings.nodes().get(node);
    }

    /** The node's connection is up: its next failure is retried after the shortest delay again. */
    void connected(int node) {
        ctx.getLog().info("node {} ({}) connected", node, address(node));
        backoff[node] = settings.minBackoff();
    }

    /** The node broke the protocol: its connection is closed and replaced like a failed one. */
    void drop(int node) {
        connections[node].tell(NodeProposerConnection.Stop.INSTANCE);
        disconnected(node);
    }

    /** The node is out of the quorum until a new connection is up; the retry waits longer each time. */
    void disconnected(int node) {
        connections[node] = null;
        proposer.nodeDisconnected(node);
        Duration delay = backoff[node];
        backoff[node] = Bridge.doubled(delay, settings.maxBackoff());
        timers.startSingleTimer(new Bridge.Reconnect(node), new Bridge.Reconnect(node), delay);
    }

    /**
     * A new connection to the node once its backoff passed; false if it has one already. The
     * caller then tells the proposer ({@code nodeReconnected}) and routes what it sends.
     */
    boolean reconnect(int node) {
        if (connections[node] != null) {
            return false;
        }
        connections[node] = spawn(node);
        return true;
    }

    private ActorRef<NodeProposerConnection.Command> spawn(int node) {
        return ctx.spawn(NodeProposerConnection.create(settings.node(), events, sockets.apply(address(node))),
                "node-" + node + "-" + (++generation[node]));
    }

    /**
     * Sends a round of proposer output to the node connections (WAL with its end LSN as the token,
     * so {@code Written} tells how far each socket took it); messages to nodes without a connection
     * are dropped. Each distinct message is encoded once: nodes in step get the same frame.
     */
    void send(List<Proposer.Outbound> out) {
        SharedFrames frames = new SharedFrames();
        for (Proposer.Outbound o : out) {
            ActorRef<NodeProposerConnection.Command> connection = connections[o.node()];
            if (connection == null) {
                continue;
            }
            long token = o.message() instanceof AppendRequest append && !append.isHeartbeat()
                    ? append.endLsn().value() : NodeProposerConnection.NO_TOKEN;
            connection.tell(new NodeProposerConnection.SendFrame(frames.frameOf(o.message()), token));
            if (token != NodeProposerConnection.NO_TOKEN) {
                trace.stamp(Stage.BRIDGE_APPEND_SENT, token, o.node());
            }
        }
    }

    /** Said once per time it happens: a node left out of the stream needs an operator's eye. */
    void logNodesFallingBehind() {
        for (int i = 0; i < behind.length; i++) {
            Proposer.NodeStatus status = proposer.nodeStatus(i);
            boolean isBehind = status.state() == Proposer.NodeState.BEHIND;
            if (isBehind && !behind[i]) {
                ctx.getLog().warn("node {} ({}) is behind: it needs WAL from {} but the buffer starts at {};"
                                + " it gets no WAL until it recovered from a peer, the quorum goes on without it", i,
                        address(i), status.streamingAt(), proposer.bufferStart());
            } else if (behind[i] && (status.state() == Proposer.NodeState.ELECTED
                    || status.state() == Proposer.NodeState.STREAMING)) {
                ctx.getLog().info("node {} ({}) recovered up to {}: streaming to it again", i, address(i),
                        status.flushLsn());
            }
            behind[i] = isBehind;
        }
    }

    /** Closes every open connection (the bridge stops). */
    void stopAll() {
        for (ActorRef<NodeProposerConnection.Command> c : connections) {
            if (c != null) {
                c.tell(NodeProposerConnection.Stop.INSTANCE);
            }
        }
    }
}
