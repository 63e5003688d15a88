package dev.walkeeper.actors.bridge;

import dev.walkeeper.actors.consensus.Proposer;
import dev.walkeeper.actors.consensus.ProposerSteppedDown;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
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
 * <p>First version: each {@code Wal} is acknowledged to the primary client as soon as it is handed
 * to the node connections (not when the sockets took it); a primary failure or a step-down stops
 * the bridge; a node failure only takes the node out until it is reconnected (with backoff).
 */
public final class Bridge {

    public sealed interface Command {}

    private record FromPrimary(PrimaryReplicationClient.Event event) implements Command {}

    private record FromNode(NodeProposerConnection.Event event) implements Command {}

    private enum Heartbeat implements Command { INSTANCE }

    private record Reconnect(int node) implements Command {}

    /** Stop the bridge: the primary and node connections are closed. */
    public enum Stop implements Command { INSTANCE }

    /**
     * @param primaryAddress the primary's replication address
     * @param primary user, application name (the standby name) and slot for the primary
     * @param nodes the walkeeper nodes, in a fixed order (the proposer's node indexes)
     * @param node user, password and tenant/timeline id for the nodes
     * @param heartbeat how often empty AppendRequests carry the commit LSN (Neon: about 1 s)
     * @param minBackoff first delay before reconnecting a failed node; doubles up to {@code maxBackoff}
     */
    public record Settings(InetSocketAddress primaryAddress, PrimaryReplicationClient.Settings primary,
                           List<InetSocketAddress> nodes, NodeProposerConnection.Settings node, Duration heartbeat,
                           Duration minBackoff, Duration maxBackoff, Duration connectTimeout) {
        public Settings {
            Objects.requireNonNull(primaryAddress, "primaryAddress");
            Objects.requireNonNull(primary, "primary");
            Objects.requireNonNull(node, "node");
            nodes = List.copyOf(nodes);
            if (nodes.isEmpty()) {
                throw new IllegalArgumentException("need at least one node");
            }
        }

        /** Heartbeat 1 s, reconnects after 200 ms doubling to 5 s, 5 s to connect. */
        public static Settings defaults(InetSocketAddress primaryAddress, PrimaryReplicationClient.Settings primary,
                                        List<InetSocketAddress> nodes, NodeProposerConnection.Settings node) {
            return new Settings(primaryAddress, primary, nodes, node, Duration.ofSeconds(1), Duration.ofMillis(200),
                    Duration.ofSeconds(5), Duration.ofSeconds(5));
        }
    }

    /** The first record of a segment follows its long page header. */
    static final int LONG_PAGE_HEADER_SIZE = 0x28;

    public static Behavior<Command> create(Settings settings) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Bridge(ctx, timers, settings).identifying()));
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
    private final ActorRef<PrimaryReplicationClient.Event> primaryEvents;
    private final ActorRef<NodeProposerConnection.Event> nodeEvents;
    private final ActorRef<PrimaryReplicationClient.Command> primary;
    @SuppressWarnings("unchecked")
    private final ActorRef<NodeProposerConnection.Command>[] connections;
    private final Duration[] backoff;
    private final int[] generation;
    private Proposer proposer;
    private int walSegSize;
    private Lsn reportedFlush = Lsn.INVALID;

    @SuppressWarnings("unchecked")
    private Bridge(ActorContext<Command> ctx, TimerScheduler<Command> timers, Settings settings) {
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.primaryEvents = ctx.messageAdapter(PrimaryReplicationClient.Event.class, FromPrimary::new);
        this.nodeEvents = ctx.messageAdapter(NodeProposerConnection.Event.class, FromNode::new);
        int n = settings.nodes().size();
        this.connections = new ActorRef[n];
        this.backoff = new Duration[n];
        Arrays.fill(backoff, settings.minBackoff());
        this.generation = new int[n];
        this.primary = ctx.spawn(PrimaryReplicationClient.create(settings.primary(), primaryEvents,
                PrimaryReplicationClient.sockets(settings.primaryAddress(), settings.connectTimeout())), "primary");
    }

    /** Waiting for the primary's handshake: the proposer cannot be built before the system id and segment size are known. */
    private Behavior<Command> identifying() {
        return Behaviors.receive(Command.class)
                .onMessage(FromPrimary.class, m -> {
                    if (m.event() instanceof PrimaryReplicationClient.Identified identified) {
                        return onIdentified(identified);
                    }
                    return onPrimaryOther(m.event());
                })
                .onMessageEquals(Stop.INSTANCE, this::stop)
                .build();
    }

    private Behavior<Command> onIdentified(PrimaryReplicationClient.Identified identified) {
        Lsn basebackup = basebackupLsn(identified);
        ctx.getLog().info("primary identified: system id {}, timeline {}, xlogpos {}, slot restart {}, version {};"
                        + " proposing to {} nodes, basebackup LSN {}", Long.toUnsignedString(identified.systemId()),
                identified.timeline(), identified.xlogPos(), identified.slotRestartLsn(),
                identified.serverVersionNum(), settings.nodes().size(), basebackup);
        walSegSize = identified.walSegSize();
        proposer = new Proposer(settings.node().timeline(), identified.serverVersionNum(), identified.systemId(),
                identified.walSegSize(), settings.nodes().size(), basebackup);
        for (int i = 0; i < connections.length; i++) {
            connections[i] = spawnConnection(i);
        }
        return route(proposer::greetings, electing());
    }

    /** Greetings and votes go back and forth until a majority elected us; only then is there a term start to stream from. */
    private Behavior<Command> electing() {
        return Behaviors.receive(Command.class)
                .onMessage(FromNode.class, m -> {
                    Behavior<Command> next = onNode(m.event());
                    if (proposer != null && proposer.elected() && next == Behaviors.<Command>same()) {
                        Lsn start = proposer.termStartLsn();
                        ctx.getLog().info("elected in term {}, term start {}; streaming from the primary",
                                proposer.term(), start);
                        primary.tell(PrimaryReplicationClient.StartStreaming.at(
                                segmentStart(start, walSegSize)));
                        timers.startTimerWithFixedDelay(Heartbeat.INSTANCE, settings.heartbeat());
                        return streaming();
                    }
                    return next;
                })
                .onMessage(Reconnect.class, this::onReconnect)
                .onMessage(FromPrimary.class, m -> onPrimaryOther(m.event()))
                .onMessageEquals(Stop.INSTANCE, this::stop)
                .build();
    }

    /** Elected: the primary's WAL is appended and sent on; every commit LSN advance is reported to the primary. */
    private Behavior<Command> streaming() {
        return Behaviors.receive(Command.class)
                .onMessage(FromNode.class, m -> onNode(m.event()))
                .onMessage(FromPrimary.class, m -> {
                    if (m.event() instanceof PrimaryReplicationClient.Wal wal) {
                        return onWal(wal);
                    }
                    if (m.event() instanceof PrimaryReplicationClient.Streaming s) {
                        ctx.getLog().info("primary streaming from {} on timeline {}", s.startLsn(), s.timeline());
                        return Behaviors.same();
                    }
                    return onPrimaryOther(m.event());
                })
                .onMessageEquals(Heartbeat.INSTANCE, () -> route(proposer::heartbeat, Behaviors.same()))
                .onMessage(Reconnect.class, this::onReconnect)
                .onMessageEquals(Stop.INSTANCE, this::stop)
                .build();
    }

    /**
     * WAL already appended (the primary streams from a segment start, the term may start later:
     * at least past the segment's long page header) is dropped; the rest continues the proposer's WAL.
     * Acked at once (first version), not when the node sockets took it.
     */
    private Behavior<Command> onWal(PrimaryReplicationClient.Wal wal) {
        Lsn end = proposer.endOfWal();
        Behavior<Command> next = Behaviors.same();
        if (wal.end().compareTo(end) > 0) {
            if (wal.start().compareTo(end) > 0) {
                ctx.getLog().error("WAL from the primary at {} leaves a gap after {}: stopping", wal.start(), end);
                return stop();
            }
            int skip = (int) (end.value() - wal.start().value());
            byte[] bytes = skip == 0 ? wal.bytes() : Arrays.copyOfRange(wal.bytes(), skip, wal.bytes().length);
            next = route(() -> proposer.append(end, bytes), Behaviors.same());
        }
        primary.tell(PrimaryReplicationClient.Ack.INSTANCE);
        return next;
    }

    private Behavior<Command> onNode(NodeProposerConnection.Event event) {
        int node = indexOf(event.connection());
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
                    return route(() -> proposer.onAppendResponse(node, response), Behaviors.same());
                }
                throw new IllegalStateException("unexpected message " + message);
            } catch (IllegalStateException e) {
                ctx.getLog().warn("node {} broke the protocol, dropping its connection: {}", node, e.getMessage());
                connections[node].tell(NodeProposerConnection.Stop.INSTANCE);
                disconnected(node);
                return Behaviors.same();
            }
        }
        if (event instanceof NodeProposerConnection.Ready) {
            ctx.getLog().info("node {} ({}) connected", node, settings.nodes().get(node));
            backoff[node] = settings.minBackoff();
        } else if (event instanceof NodeProposerConnection.Failed failed) {
            ctx.getLog().warn("node {} ({}) failed: {}", node, settings.nodes().get(node), failed.reason());
            disconnected(node);
        } else if (event instanceof NodeProposerConnection.Closed) {
            disconnected(node);
        }
        return Behaviors.same();
    }

    /** The node is out of the quorum until a new connection is up; the retry waits longer each time. */
    private void disconnected(int node) {
        connections[node] = null;
        proposer.nodeDisconnected(node);
        Duration delay = backoff[node];
        backoff[node] = delay.multipliedBy(2).compareTo(settings.maxBackoff()) > 0 ? settings.maxBackoff()
                : delay.multipliedBy(2);
        timers.startSingleTimer(new Reconnect(node), new Reconnect(node), delay);
    }

    private Behavior<Command> onReconnect(Reconnect r) {
        if (connections[r.node()] != null) {
            return Behaviors.same();
        }
        connections[r.node()] = spawnConnection(r.node());
        return route(() -> proposer.nodeReconnected(r.node()), Behaviors.same());
    }

    private ActorRef<NodeProposerConnection.Command> spawnConnection(int node) {
        return ctx.spawn(NodeProposerConnection.create(settings.node(), nodeEvents,
                        NodeProposerConnection.sockets(settings.nodes().get(node), settings.connectTimeout())),
                "node-" + node + "-" + (++generation[node]));
    }

    private int indexOf(ActorRef<NodeProposerConnection.Command> connection) {
        for (int i = 0; i < connections.length; i++) {
            if (connection.equals(connections[i])) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Runs a proposer input, sends its messages to the node connections, and reports a commit
     * LSN advance to the primary. A step-down ends the bridge: another proposer owns the timeline.
     */
    private Behavior<Command> route(Supplier<List<Proposer.Outbound>> input, Behavior<Command> next) {
        List<Proposer.Outbound> out;
        try {
            out = input.get();
        } catch (ProposerSteppedDown e) {
            ctx.getLog().error("proposer stepped down, stopping the bridge: {}", e.getMessage());
            return stop();
        }
        for (Proposer.Outbound o : out) {
            ActorRef<NodeProposerConnection.Command> connection = connections[o.node()];
            if (connection != null) {
                connection.tell(new NodeProposerConnection.Send(o.message()));
            }
        }
        Lsn commit = proposer.commitLsn();
        if (commit.isValid() && commit.compareTo(reportedFlush) > 0) {
            reportedFlush = commit;
            primary.tell(new PrimaryReplicationClient.ReportFlushed(commit));
        }
        return next;
    }

    /** The primary connection is the bridge's reason to exist: when it fails, the bridge stops. */
    private Behavior<Command> onPrimaryOther(PrimaryReplicationClient.Event event) {
        if (event instanceof PrimaryReplicationClient.Failed failed) {
            ctx.getLog().error("primary connection failed, stopping the bridge: {} (SQLSTATE {})", failed.reason(),
                    failed.sqlState());
            return stop();
        }
        if (event instanceof PrimaryReplicationClient.Closed) {
            return stop();
        }
        ctx.getLog().debug("ignored primary event {}", event);
        return Behaviors.same();
    }

    private Behavior<Command> stop() {
        primary.tell(PrimaryReplicationClient.Stop.INSTANCE);
        for (ActorRef<NodeProposerConnection.Command> c : connections) {
            if (c != null) {
                c.tell(NodeProposerConnection.Stop.INSTANCE);
            }
        }
        return Behaviors.stopped();
    }
}
