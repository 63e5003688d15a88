package dev.walkeeper.actors.bridge;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.consensus.Proposer;
import dev.walkeeper.actors.consensus.ProposerSteppedDown;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The proposer bridge: a vanilla PostgreSQL primary's WAL, read over physical replication
 * ({@link PrimaryReplicationClient}), is proposed to a quorum of walkeeper nodes
 * ({@link NodeProposerConnection} each) by a {@link Proposer}; the quorum's commit LSN goes back
 * to the primary as the standby's flush position, which releases synchronous commits waiting
 * under {@code synchronous_standby_names = '<application name>'}.
 *
 * <p>States: {@link #identifying} (the primary handshake gives the system id, segment size,
 * version and slot, which the proposer needs) → {@link #electing} (greetings and votes) →
 * {@link #streaming} (WAL → AppendRequests, commit LSN → flush reports).
 *
 * <p>Flow control: a {@code Wal} is acknowledged to the primary client once the sockets of a
 * majority of nodes took it ({@link NodeProposerConnection.Written}), so the primary is read no
 * faster than a quorum can take its WAL; each node gets at most {@link #SEND_WINDOW_BYTES} beyond
 * what its socket took (the proposer's send window), so a slow node or a catch-up queues little,
 * and a node held back until its position left the buffer is behind.
 *
 * <p>Failures: a node failure takes the node out until it is reconnected (with backoff); a primary
 * failure is retried the same way and streaming resumes at the proposer's end of WAL in the same
 * term. The bridge stops on a step-down (another proposer won), a gap in the primary's WAL, a
 * primary that changed (system id, timeline, segment size) or refused our credentials.
 */
public final class Bridge {

    public sealed interface Command {}

    private record FromPrimary(PrimaryReplicationClient.Event event) implements Command {}

    private record FromNode(NodeProposerConnection.Event event) implements Command {}

    private enum Heartbeat implements Command { INSTANCE }

    private enum CommitUpdates implements Command { INSTANCE }

    private enum LogStatus implements Command { INSTANCE }

    /** A node's backoff passed ({@link NodeConnections#disconnected}). */
    record Reconnect(int node) implements Command {}

    /** The primary's backoff passed ({@link PrimaryConnection#retryLater}). */
    enum ReconnectPrimary implements Command { INSTANCE }

    /** Stop the bridge: the primary and node connections are closed. */
    public enum Stop implements Command { INSTANCE }

    /** Asks for a {@link Status}. */
    public record GetStatus(ActorRef<Status> replyTo) implements Command {}

    /**
     * What the bridge knows: {@code term} 0 and no nodes' states before the primary identified
     * itself; {@code commitLsn} is what the primary was last told.
     */
    public record Status(long term, boolean elected, Lsn commitLsn, Lsn endOfWal, List<NodeStatus> nodes) {
        public Status {
            nodes = List.copyOf(nodes);
        }

        /** One line for the log: term, commit LSN and each node's state and flush LSN. */
        public String summary() {
            StringBuilder line = new StringBuilder("term ").append(term).append(elected ? "" : " (not elected)")
                    .append(", commit ").append(commitLsn).append(", end of WAL ").append(endOfWal);
            for (NodeStatus node : nodes) {
                line.append("; ").append(node.address()).append(' ').append(node.state())
                        .append(" flush ").append(node.flushLsn());
            }
            return line.toString();
        }
    }

    /** A node as the proposer sees it ({@link Proposer.NodeState}), with its address. */
    public record NodeStatus(InetSocketAddress address, Proposer.NodeState state, Lsn flushLsn, Lsn streamingAt) {}

    /**
     * @param primaryAddress the primary's replication address
     * @param primary user, application name (the standby name) and slot for the primary
     * @param nodes the walkeeper nodes, in a fixed order (the proposer's node indexes)
     * @param node user, password and tenant/timeline id for the nodes
     * @param heartbeat how often empty AppendRequests carry the commit LSN (Neon: about 1 s)
     * @param minBackoff first delay before reconnecting a failed node or primary; doubles up to {@code maxBackoff}
     * @param bufferBytes recent WAL kept to catch up a node that fell behind
     */
    public record Settings(InetSocketAddress primaryAddress, PrimaryReplicationClient.Settings primary,
                           List<InetSocketAddress> nodes, NodeProposerConnection.Settings node, Duration heartbeat,
                           Duration minBackoff, Duration maxBackoff, Duration connectTimeout, long bufferBytes) {
        public Settings {
            Objects.requireNonNull(primaryAddress, "primaryAddress");
            Objects.requireNonNull(primary, "primary");
            Objects.requireNonNull(node, "node");
            nodes = List.copyOf(nodes);
            if (nodes.isEmpty()) {
                throw new IllegalArgumentException("need at least one node");
            }
            if (bufferBytes < 1) {
                throw new IllegalArgumentException("bufferBytes " + bufferBytes);
            }
        }

        /** Heartbeat 1 s, reconnects after 200 ms doubling to 5 s, 5 s to connect, a {@link #DEFAULT_BUFFER_BYTES} buffer. */
        public static Settings defaults(InetSocketAddress primaryAddress, PrimaryReplicationClient.Settings primary,
                                        List<InetSocketAddress> nodes, NodeProposerConnection.Settings node) {
            return new Settings(primaryAddress, primary, nodes, node, Duration.ofSeconds(1), Duration.ofMillis(200),
                    Duration.ofSeconds(5), Duration.ofSeconds(5), DEFAULT_BUFFER_BYTES);
        }

        public Settings withBufferBytes(long bytes) {
            return new Settings(primaryAddress, primary, nodes, node, heartbeat, minBackoff, maxBackoff,
                    connectTimeout, bytes);
        }
    }

    /** Four segments: a node restarted within a few seconds of a busy primary still catches up. */
    public static final long DEFAULT_BUFFER_BYTES = 64L * 1024 * 1024;

    /**
     * How stale a node's commit LSN may get when no WAL follows a commit (it bounds how long the
     * node's WAL consumers wait for the last commit); under load the WAL itself carries it.
     */
    static final Duration COMMIT_UPDATE_DELAY = Duration.ofMillis(20);

    /** How often the status goes to the log (INFO), so a node left behind shows even when nothing changes. */
    static final Duration STATUS_LOG_INTERVAL = Duration.ofMinutes(1);

    /** Enough in flight per node to keep a socket busy between two Written reports; little to queue. */
    static final long SEND_WINDOW_BYTES = 4L * 1024 * 1024;

    /** The first record of a segment follows its long page header. */
    static final int LONG_PAGE_HEADER_SIZE = 0x28;

    public static Behavior<Command> create(Settings settings) {
        return create(settings, address -> ClientConnection.sockets(address, settings.connectTimeout()));
    }

    /** With the sockets of the primary and node connections from {@code sockets} (probes in tests). */
    static Behavior<Command> create(Settings settings, Function<InetSocketAddress, SocketFactory> sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new Bridge(ctx, timers, settings, sockets).identifying()));
    }

    /**
     * Where a brand-new timeline's WAL starts: the slot's restart LSN (else xlogpos) rounded down to
     * a segment start, then past that segment's long page header, where the first record is.
     */
    static Lsn basebackupLsn(PrimaryReplicationClient.Identified identified) {
        Lsn from = identified.slotRestartLsn().isValid() ? identified.slotRestartLsn() : identified.xlogPos();
        return segmentStart(from, identified.walSegSize()).plus(LONG_PAGE_HEADER_SIZE);
    }

    static Lsn segmentStart(Lsn lsn, int walSegSize) {
        return new Lsn(lsn.value() - lsn.value() % walSegSize);
    }

    private final ActorContext<Command> ctx;
    private final TimerScheduler<Command> timers;
    private final Settings settings;
    private final PrimaryConnection primary;
    private PrimaryReplicationClient.Identified identity;
    private final NodeConnections nodes;
    /** End LSNs of the primary's {@code Wal}s not yet acknowledged: each waits for a quorum of sockets. */
    private final ArrayDeque<Lsn> unacknowledged = new ArrayDeque<>();
    private Proposer proposer;
    private Lsn reportedFlush = Lsn.INVALID;
    private final CommitTrace trace;

    private Bridge(ActorContext<Command> ctx, TimerScheduler<Command> timers, Settings settings,
                   Function<InetSocketAddress, SocketFactory> sockets) {
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.trace = CommitTrace.get(ctx.getSystem());
        this.nodes = new NodeConnections(ctx, timers, settings, sockets,
                ctx.messageAdapter(NodeProposerConnection.Event.class, FromNode::new), trace);
        this.primary = new PrimaryConnection(ctx, timers, settings, sockets,
                ctx.messageAdapter(PrimaryReplicationClient.Event.class, FromPrimary::new));
    }

    /** Waiting for the primary's handshake: the proposer cannot be built before the system id and segment size are known. */
    private Behavior<Command> identifying() {
        return Behaviors.receive(Command.class)
                .onMessage(FromPrimary.class, m -> onPrimary(m.event()))
                .onMessage(ReconnectPrimary.class, r -> onReconnectPrimary())
                .onMessage(GetStatus.class, this::onGetStatus)
                .onMessageEquals(Stop.INSTANCE, this::stop)
                .build();
    }

    private Behavior<Command> onIdentified(PrimaryReplicationClient.Identified identified) {
        identity = identified;
        Lsn basebackup = basebackupLsn(identified);
        ctx.getLog().info("primary identified: system id {}, timeline {}, xlogpos {}, slot restart {}, version {};"
                        + " proposing to {} nodes, basebackup LSN {}", Long.toUnsignedString(identified.systemId()),
                identified.timeline(), identified.xlogPos(), identified.slotRestartLsn(),
                identified.serverVersionNum(), settings.nodes().size(), basebackup);
        proposer = new Proposer(settings.node().timeline(), identified.serverVersionNum(), identified.systemId(),
                identified.walSegSize(), settings.nodes().size(), basebackup, settings.bufferBytes(),
                SEND_WINDOW_BYTES);
        nodes.spawnAll(proposer);
        return route(proposer::greetings, electing());
    }

    /** Greetings and votes go back and forth until a majority elected us; only then is there a term start to stream from. */
    private Behavior<Command> electing() {
        return Behaviors.receive(Command.class)
                .onMessage(FromNode.class, m -> {
                    Behavior<Command> next = onNode(m.event());
                    if (proposer.elected() && next == Behaviors.<Command>same()) {
                        ctx.getLog().info("elected in term {}, term start {}; streaming from the primary",
                                proposer.term(), proposer.termStartLsn());
                        startStreaming();
                        timers.startTimerWithFixedDelay(Heartbeat.INSTANCE, settings.heartbeat());
                        timers.startTimerWithFixedDelay(LogStatus.INSTANCE, STATUS_LOG_INTERVAL);
                        return streaming();
                    }
                    return next;
                })
                .onMessage(Reconnect.class, this::onReconnect)
                .onMessage(FromPrimary.class, m -> onPrimary(m.event()))
                .onMessage(ReconnectPrimary.class, r -> onReconnectPrimary())
                .onMessage(GetStatus.class, this::onGetStatus)
                .onMessageEquals(Stop.INSTANCE, this::stop)
                .build();
    }

    /** Elected: the primary's WAL is appended and sent on; every commit LSN advance is reported to the primary. */
    private Behavior<Command> streaming() {
        return Behaviors.receive(Command.class)
                .onMessage(FromNode.class, m -> onNode(m.event()))
                .onMessage(FromPrimary.class, m -> onPrimary(m.event()))
                .onMessageEquals(Heartbeat.INSTANCE, () -> route(proposer::heartbeat, Behaviors.same()))
                .onMessageEquals(CommitUpdates.INSTANCE, () -> route(proposer::commitUpdates, Behaviors.same()))
                .onMessage(Reconnect.class, this::onReconnect)
                .onMessage(ReconnectPrimary.class, r -> onReconnectPrimary())
                .onMessage(GetStatus.class, this::onGetStatus)
                .onMessageEquals(LogStatus.INSTANCE, () -> {
                    ctx.getLog().info("status: {}", status().summary());
                    return Behaviors.same();
                })
                .onMessageEquals(Stop.INSTANCE, this::stop)
                .build();
    }

    /**
     * Asks the primary for WAL from where this term needs it: the first time from a segment start
     * at or before the term start, low enough to also feed voters elected below the term start
     * but not below the slot's restart LSN (older WAL may be gone); after a reconnect from the
     * segment of the proposer's end of WAL.
     */
    private void startStreaming() {
        if (!primary.connected()) {
            return; // reconnecting: the new client's Identified starts it
        }
        int segSize = identity.walSegSize();
        Lsn from = segmentStart(proposer.endOfWal(), segSize);
        if (!proposer.walAppended()) {
            Lsn lowest = from;
            for (Proposer.NodeStatus node : proposer.status()) {
                if (node.state() == Proposer.NodeState.ELECTED && node.streamingAt().isValid()) {
                    lowest = Lsn.min(lowest, segmentStart(node.streamingAt(), segSize));
                }
            }
            Lsn slot = identity.slotRestartLsn();
            from = slot.isValid() ? Lsn.min(from, Lsn.max(lowest, segmentStart(slot, segSize))) : from;
        }
        primary.tell(PrimaryReplicationClient.StartStreaming.at(from));
        if (reportedFlush.isValid()) {
            primary.tell(new PrimaryReplicationClient.ReportFlushed(reportedFlush));
        }
    }

    /**
     * WAL the proposer already has (after a reconnect, the primary streams from a segment start)
     * is dropped; the rest continues the proposer's WAL. The primary client gets its Ack once a
     * quorum of node sockets took the WAL.
     */
    private Behavior<Command> onWal(PrimaryReplicationClient.Wal wal) {
        Lsn end = proposer.endOfWal();
        if (wal.start().compareTo(end) > 0) {
            ctx.getLog().error("WAL from the primary at {} leaves a gap after {}: stopping", wal.start(), end);
            return stop();
        }
        if (!proposer.walAppended()) {
            // The first WAL of the term: everything from the segment start feeds lower voters.
            return append(wal.start(), wal.bytes());
        }
        if (wal.end().compareTo(end) <= 0) {
            primary.tell(PrimaryReplicationClient.Ack.INSTANCE);
            return Behaviors.same();
        }
        int skip = (int) (end.value() - wal.start().value());
        return append(end, wal.bytes().slice(skip, wal.bytes().length() - skip));
    }

    private Behavior<Command> append(Lsn start, ByteSlice bytes) {
        unacknowledged.add(start.plus(bytes.length()));
        Behavior<Command> next = route(() -> proposer.append(start, bytes), Behaviors.same());
        releaseAcknowledged();
        return next;
    }

    /** Acks every {@code Wal} whose end the sockets of a quorum of nodes took. */
    private void releaseAcknowledged() {
        Lsn quorumTaken = proposer.quorumWrittenLsn();
        while (!unacknowledged.isEmpty() && quorumTaken.isValid()
                && unacknowledged.peek().compareTo(quorumTaken) <= 0) {
            unacknowledged.poll();
            primary.tell(PrimaryReplicationClient.Ack.INSTANCE);
        }
    }

    private Behavior<Command> onNode(NodeProposerConnection.Event event) {
        int node = nodes.indexOf(event.connection());
        if (node < 0) {
            return Behaviors.same(); // a connection already replaced
        }
        if (event instanceof NodeProposerConnection.FromNode from) {
            AcceptorMessage message = from.message();
            try {
                if (message instanceof AcceptorGreeting greeting) {
                    return route(() -> proposer.onAcceptorGreeting(node, greeting), Behaviors.same());
                }
                if (message instanceof VoteResponse vote) {
                    return route(() -> proposer.onVoteResponse(node, vote), Behaviors.same());
                }
                if (message instanceof AppendResponse response) {
                    trace.stamp(Stage.BRIDGE_RESPONSE_READ, response.flushLsn().value(), node);
                    return route(() -> {
                        proposer.onAppendResponse(node, response);
                        return List.of();
                    }, Behaviors.same());
                }
                throw new IllegalStateException("unexpected message " + message);
            } catch (IllegalStateException e) {
                ctx.getLog().warn("node {} broke the protocol, dropping its connection: {}", node, e.getMessage());
                nodes.drop(node);
                return Behaviors.same();
            }
        }
        if (event instanceof NodeProposerConnection.Written written) {
            Behavior<Command> next = route(() -> proposer.onWritten(node, new Lsn(written.token())), Behaviors.same());
            releaseAcknowledged();
            return next;
        } else if (event instanceof NodeProposerConnection.Ready) {
            nodes.connected(node);
        } else if (event instanceof NodeProposerConnection.Failed failed) {
            ctx.getLog().warn("node {} ({}) failed: {}", node, nodes.address(node), failed.reason());
            nodes.disconnected(node);
        } else if (event instanceof NodeProposerConnection.Closed) {
            nodes.disconnected(node);
        }
        return Behaviors.same();
    }

    /** Delays double up to {@code max}. */
    static Duration doubled(Duration delay, Duration max) {
        Duration twice = delay.multipliedBy(2);
        return twice.compareTo(max) > 0 ? max : twice;
    }

    private Behavior<Command> onReconnect(Reconnect r) {
        if (!nodes.reconnect(r.node())) {
            return Behaviors.same();
        }
        return route(() -> proposer.nodeReconnected(r.node()), Behaviors.same());
    }

    /**
     * Runs a proposer input, reports a commit LSN advance to the primary at once, on the primary
     * connection's writer, then sends its messages to the node connections
     * ({@link NodeConnections#send}). A step-down ends the bridge: another proposer owns the
     * timeline.
     */
    private Behavior<Command> route(Supplier<List<Proposer.Outbound>> input, Behavior<Command> next) {
        List<Proposer.Outbound> out;
        try {
            out = input.get();
        } catch (ProposerSteppedDown e) {
            ctx.getLog().error("proposer stepped down, stopping the bridge: {}", e.getMessage());
            return stop();
        }
        Lsn commit = proposer.commitLsn();
        if (commit.isValid() && commit.compareTo(reportedFlush) > 0) {
            // First: the primary's waiting commits are released before the nodes are written to.
            reportedFlush = commit;
            trace.stamp(Stage.BRIDGE_QUORUM, commit.value());
            primary.reportFlushed(commit);
            if (!timers.isTimerActive(CommitUpdates.INSTANCE)) {
                timers.startSingleTimer(CommitUpdates.INSTANCE, COMMIT_UPDATE_DELAY);
            }
        }
        nodes.send(out);
        nodes.logNodesFallingBehind();
        return next;
    }

    private Behavior<Command> onGetStatus(GetStatus get) {
        get.replyTo().tell(status());
        return Behaviors.same();
    }

    private Status status() {
        if (proposer == null) {
            return new Status(0, false, Lsn.INVALID, Lsn.INVALID, List.of());
        }
        List<NodeStatus> states = new ArrayList<>();
        for (int i = 0; i < settings.nodes().size(); i++) {
            Proposer.NodeStatus node = proposer.nodeStatus(i);
            states.add(new NodeStatus(settings.nodes().get(i), node.state(), node.flushLsn(), node.streamingAt()));
        }
        return new Status(proposer.term(), proposer.elected(), reportedFlush, proposer.endOfWal(), states);
    }

    private Behavior<Command> onPrimary(PrimaryReplicationClient.Event event) {
        if (!primary.isCurrent(event)) {
            return Behaviors.same(); // from a client already replaced
        }
        if (event instanceof PrimaryReplicationClient.Identified identified) {
            if (identity == null) {
                return onIdentified(identified);
            }
            return onReidentified(identified);
        }
        if (event instanceof PrimaryReplicationClient.Wal wal) {
            return onWal(wal);
        }
        if (event instanceof PrimaryReplicationClient.Streaming s) {
            primary.streaming(s, reportedFlush);
            return Behaviors.same();
        }
        if (event instanceof PrimaryReplicationClient.Failed failed) {
            return onPrimaryFailed(failed);
        }
        return stop(); // Closed: only after our Stop
    }

    /** A primary that is back must be the same server on the same timeline: our WAL continues its WAL. */
    private Behavior<Command> onReidentified(PrimaryReplicationClient.Identified identified) {
        if (identified.systemId() != identity.systemId() || identified.timeline() != identity.timeline()
                || identified.walSegSize() != identity.walSegSize()) {
            ctx.getLog().error("the primary changed (system id {}, timeline {}; was {}, {}): stopping the bridge",
                    Long.toUnsignedString(identified.systemId()), identified.timeline(),
                    Long.toUnsignedString(identity.systemId()), identity.timeline());
            return stop();
        }
        ctx.getLog().info("primary back: xlogpos {}, slot restart {}", identified.xlogPos(),
                identified.slotRestartLsn());
        identity = identified;
        if (proposer.elected()) {
            startStreaming();
        }
        return Behaviors.same();
    }

    /**
     * A lost primary connection is retried with backoff (the primary may be restarting); WAL
     * handed to the old client is re-read from the new one. Bad credentials will not get better:
     * the bridge stops.
     */
    private Behavior<Command> onPrimaryFailed(PrimaryReplicationClient.Failed failed) {
        if (failed.sqlState() != null && failed.sqlState().startsWith("28")) {
            ctx.getLog().error("the primary refused the bridge, stopping: {} (SQLSTATE {})", failed.reason(),
                    failed.sqlState());
            return stop();
        }
        primary.retryLater(failed);
        unacknowledged.clear();
        return Behaviors.same();
    }

    private Behavior<Command> onReconnectPrimary() {
        primary.reconnect();
        return Behaviors.same();
    }

    private Behavior<Command> stop() {
        primary.stop();
        nodes.stopAll();
        return Behaviors.stopped();
    }
}
