package dev.walkeeper.actors.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.connection.AuthPolicy;
import dev.walkeeper.actors.connection.ConnectionSettings;
import dev.walkeeper.actors.connection.Listener;
import dev.walkeeper.actors.consensus.InMemoryWalStores;
import dev.walkeeper.actors.consensus.Proposer;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.testkit.FaultProxy;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.persistence.testkit.PersistenceTestKitPlugin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The proposer's connection against real walkeeper nodes (registry + listener) in this JVM. */
class NodeProposerConnectionTest {
    private static final ActorTestKit testKit = TestKits.create(PersistenceTestKitPlugin.getInstance().config()
            .withFallback(ConfigFactory.parseString("""
                    walkeeper.timeline-dispatcher { type = Dispatcher, executor = "thread-pool-executor" }
                    """)));

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static final Lsn START = Lsn.parse("0/1000028");
    private static final int PG_VERSION = 150018;
    private static final long SYSTEM_ID = 42;
    private static final int SEG_SIZE = 16 << 20;
    private static int counter;

    private static TenantTimelineId newId() {
        return new TenantTimelineId("0123456789abcdef0123456789abcdef", String.format("%032x", ++counter));
    }

    /** A walkeeper node's serving pieces: a timeline registry on in-memory WAL and a listener on a free port. */
    private static InetSocketAddress startNode(long nodeId, AuthPolicy auth) {
        ConnectionSettings settings = new ConnectionSettings(Duration.ofSeconds(10), Duration.ofSeconds(5),
                FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE, "15.0", SYSTEM_ID, SEG_SIZE, auth);
        ActorRef<TimelineRegistry.Command> registry =
                testKit.spawn(TimelineRegistry.create(nodeId, new InMemoryWalStores()));
        TestProbe<Listener.BindResult> bound = testKit.createTestProbe(Listener.BindResult.class);
        testKit.spawn(Listener.create("127.0.0.1", 0, Listener.tcpConnections(settings, registry), bound.ref()));
        return assertInstanceOf(Listener.Bound.class, bound.receiveMessage()).address();
    }

    private static InetSocketAddress startNode(long nodeId) {
        return startNode(nodeId, AuthPolicy.loopbackTrustOnly());
    }

    private static ActorRef<NodeProposerConnection.Command> connect(InetSocketAddress node,
                                                                     NodeProposerConnection.Settings settings,
                                                                     TestProbe<NodeProposerConnection.Event> parent) {
        return testKit.spawn(NodeProposerConnection.create(settings, parent.ref(),
                ClientConnection.sockets(node, Duration.ofSeconds(5))));
    }

    private static ProposerGreeting greeting(TenantTimelineId id) {
        return new ProposerGreeting(id, MembershipConfiguration.EMPTY, PG_VERSION, SYSTEM_ID, SEG_SIZE);
    }

    private static <M extends AcceptorMessage> M fromNode(TestProbe<NodeProposerConnection.Event> parent,
                                                          Class<M> type) {
        var event = assertInstanceOf(NodeProposerConnection.FromNode.class, parent.receiveMessage());
        return assertInstanceOf(type, event.message());
    }

    @Test
    void greetsVotesAppendsAndReportsWhatTheSocketTook() {
        TenantTimelineId id = newId();
        InetSocketAddress node = startNode(7);
        TestProbe<NodeProposerConnection.Event> parent = testKit.createTestProbe(NodeProposerConnection.Event.class);
        var connection = connect(node, NodeProposerConnection.Settings.defaults("bridge", null, id), parent);
        // Sent before Ready: kept until the node is in CopyBoth.
        connection.tell(new NodeProposerConnection.Send(greeting(id)));
        assertEquals(new NodeProposerConnection.Ready(connection), parent.receiveMessage());

        assertEquals(7, fromNode(parent, AcceptorGreeting.class).nodeId());
        connection.tell(new NodeProposerConnection.Send(new VoteRequest(0, 1)));
        assertTrue(fromNode(parent, VoteResponse.class).voteGiven());
        connection.tell(new NodeProposerConnection.Send(new ProposerElected(0, 1, START,
                new TermHistory(List.of(new TermSwitch(1, START))))));

        Lsn at = START;
        for (int i = 0; i < 3; i++) {
            byte[] wal = new byte[1000];
            wal[0] = (byte) i;
            connection.tell(new NodeProposerConnection.Send(new AppendRequest(0, 1, at, at.plus(wal.length),
                    Lsn.INVALID, Lsn.INVALID, ByteSlice.of(wal)), 100 + i));
            at = at.plus(wal.length);
        }
        Lsn end = at;
        List<Long> written = new ArrayList<>();
        Lsn flushed = Lsn.INVALID;
        while (written.size() < 3 || !flushed.equals(end)) {
            NodeProposerConnection.Event event = parent.receiveMessage();
            if (event instanceof NodeProposerConnection.Written w) {
                assertEquals(connection, w.connection());
                written.add(w.token());
            } else {
                AppendResponse response = assertInstanceOf(AppendResponse.class,
                        assertInstanceOf(NodeProposerConnection.FromNode.class, event).message());
                assertEquals(1, response.term());
                assertTrue(response.flushLsn().compareTo(flushed) >= 0, "flush LSNs only grow");
                flushed = response.flushLsn();
            }
        }
        assertEquals(List.of(100L, 101L, 102L), written);

        connection.tell(NodeProposerConnection.Stop.INSTANCE);
        parent.fishForMessage(Duration.ofSeconds(5), e -> e instanceof NodeProposerConnection.Closed
                ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
                : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore());
        parent.expectTerminated(connection);
    }

    @Test
    void aWrongPasswordIsFailedWithTheNodesSqlState() {
        AuthPolicy auth = new AuthPolicy(Map.of("bridge",
                AuthPolicy.User.withPassword("bridge", AuthPolicy.Method.SCRAM_SHA_256, "secret")));
        InetSocketAddress node = startNode(8, auth);
        TestProbe<NodeProposerConnection.Event> parent = testKit.createTestProbe(NodeProposerConnection.Event.class);

        var refused = connect(node, NodeProposerConnection.Settings.defaults("bridge", "wrong", newId()), parent);
        var failed = assertInstanceOf(NodeProposerConnection.Failed.class, parent.receiveMessage());
        assertEquals(refused, failed.connection());
        assertEquals("28P01", failed.sqlState());
        parent.expectTerminated(refused);

        var accepted = connect(node, NodeProposerConnection.Settings.defaults("bridge", "secret", newId()), parent);
        assertEquals(new NodeProposerConnection.Ready(accepted), parent.receiveMessage());
        accepted.tell(NodeProposerConnection.Stop.INSTANCE);
        assertEquals(new NodeProposerConnection.Closed(accepted), parent.receiveMessage());
    }

    @Test
    void anErrorInsideCopyBothIsFailedWithItsSqlState() {
        InetSocketAddress node = startNode(9);
        TestProbe<NodeProposerConnection.Event> parent = testKit.createTestProbe(NodeProposerConnection.Event.class);
        var connection = connect(node, NodeProposerConnection.Settings.defaults("bridge", null, newId()), parent);
        assertEquals(new NodeProposerConnection.Ready(connection), parent.receiveMessage());
        // The greeting names another timeline than the startup options: the node refuses the push.
        connection.tell(new NodeProposerConnection.Send(greeting(newId())));
        var failed = assertInstanceOf(NodeProposerConnection.Failed.class, parent.receiveMessage());
        assertEquals("XX000", failed.sqlState());
        parent.expectTerminated(connection);
    }

    @Test
    void aNodeThatIsNotThereIsFailedWithoutSqlState() throws Exception {
        InetSocketAddress nowhere;
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            nowhere = new InetSocketAddress("127.0.0.1", socket.getLocalPort());
        }
        TestProbe<NodeProposerConnection.Event> parent = testKit.createTestProbe(NodeProposerConnection.Event.class);
        var connection = connect(nowhere, NodeProposerConnection.Settings.defaults("bridge", null, newId()), parent);
        var failed = assertInstanceOf(NodeProposerConnection.Failed.class, parent.receiveMessage());
        assertNull(failed.sqlState());
        parent.expectTerminated(connection);
    }

    @Test
    void aNodeBehindABlackHoleIsFailedOnceItLeavesAMessageUnansweredForTheReplyTimeout() throws Exception {
        TenantTimelineId id = newId();
        Duration timeout = Duration.ofMillis(800);
        try (FaultProxy proxy = FaultProxy.start(startNode(10))) {
            TestProbe<NodeProposerConnection.Event> parent =
                    testKit.createTestProbe(NodeProposerConnection.Event.class);
            var connection = connect(proxy.address(),
                    NodeProposerConnection.Settings.defaults("bridge", null, id).withReplyTimeout(timeout), parent);
            assertEquals(new NodeProposerConnection.Ready(connection), parent.receiveMessage());
            connection.tell(new NodeProposerConnection.Send(greeting(id)));
            fromNode(parent, AcceptorGreeting.class);

            // Answered, it owes nothing: idle for several timeouts, it stays connected.
            parent.expectNoMessage(timeout.multipliedBy(3));

            proxy.blackHole(true);
            long sent = System.nanoTime();
            connection.tell(new NodeProposerConnection.Send(new VoteRequest(0, 1)));
            var failed = assertInstanceOf(NodeProposerConnection.Failed.class,
                    parent.receiveMessage(timeout.multipliedBy(3)));
            Duration took = Duration.ofNanos(System.nanoTime() - sent);
            assertTrue(took.compareTo(timeout) >= 0, "failed after " + took);
            assertTrue(failed.reason().contains("sent nothing for"), failed.reason());
            assertNull(failed.sqlState());
            parent.expectTerminated(connection);
        }
    }

    @Test
    void aProposerOverThreeNodesIsElectedAndCommitsOnAQuorum() {
        TenantTimelineId id = newId();
        TestProbe<NodeProposerConnection.Event> parent = testKit.createTestProbe(NodeProposerConnection.Event.class);
        List<ActorRef<NodeProposerConnection.Command>> connections = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            connections.add(connect(startNode(11 + i), NodeProposerConnection.Settings.defaults("bridge", null, id),
                    parent));
        }
        Proposer proposer = new Proposer(id, PG_VERSION, SYSTEM_ID, SEG_SIZE, 3, START);
        send(connections, proposer.greetings());
        while (!proposer.elected()) {
            send(connections, handle(proposer, connections, parent.receiveMessage()));
        }
        assertEquals(START, proposer.termStartLsn());

        Lsn at = START;
        for (int i = 0; i < 5; i++) {
            send(connections, proposer.append(at, ByteSlice.of(new byte[500])));
            at = at.plus(500);
        }
        while (proposer.commitLsn().compareTo(at) < 0) {
            send(connections, handle(proposer, connections, parent.receiveMessage()));
        }
        assertEquals(at, proposer.commitLsn());
        connections.forEach(c -> c.tell(NodeProposerConnection.Stop.INSTANCE));
    }

    private static List<Proposer.Outbound> handle(Proposer proposer,
                                                  List<ActorRef<NodeProposerConnection.Command>> connections,
                                                  NodeProposerConnection.Event event) {
        int node = connections.indexOf(event.connection());
        if (event instanceof NodeProposerConnection.FromNode from) {
            AcceptorMessage message = from.message();
            if (message instanceof AcceptorGreeting greeting) {
                return proposer.onAcceptorGreeting(node, greeting);
            }
            if (message instanceof VoteResponse vote) {
                return proposer.onVoteResponse(node, vote);
            }
            proposer.onAppendResponse(node, (AppendResponse) message);
            return List.of();
        }
        assertInstanceOf(NodeProposerConnection.Ready.class, event);
        return List.of();
    }

    private static void send(List<ActorRef<NodeProposerConnection.Command>> connections,
                             List<Proposer.Outbound> outbound) {
        outbound.forEach(o -> connections.get(o.node()).tell(new NodeProposerConnection.Send(o.message())));
    }
}
