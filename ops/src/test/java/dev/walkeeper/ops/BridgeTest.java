package dev.walkeeper.ops;

import static dev.walkeeper.ops.BridgeChecks.NAME;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.bridge.Bridge;
import dev.walkeeper.actors.bridge.NodeProposerConnection;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient;
import dev.walkeeper.actors.consensus.Proposer;
import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.testkit.FaultProxy;
import dev.walkeeper.testkit.PostgresServer;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proposer bridge between a real PostgreSQL 15 primary (the bridge is its only synchronous
 * standby) and three in-process nodes: commits return once the quorum holds their WAL, the nodes
 * store the primary's WAL byte for byte, one node down is tolerated and two are not, a node
 * that comes back is reconnected, a node gone silent behind a black hole is dropped and
 * reconnected, a restarted primary is reconnected, and without a quorum the bridge stops reading
 * the primary.
 */
class BridgeTest {
    private static final TenantTimelineId ID = new TenantTimelineId("77777777777777777777777777777777",
            "88888888888888888888888888888888");

    @TempDir
    Path dataDir;

    private PostgresServer pg;
    private final List<WalkeeperNode> nodes = new ArrayList<>();
    private final List<InetSocketAddress> addresses = new ArrayList<>();
    private final List<ActorSystem<Bridge.Command>> bridges = new ArrayList<>();

    /** A primary whose only synchronous standby is the bridge, and three nodes. */
    @BeforeEach
    void startPrimaryAndNodes() throws Exception {
        pg = PostgresServer.builder().synchronousStandbyNames(NAME).config("synchronous_commit = on").build().start();
        for (int i = 0; i < 3; i++) {
            nodes.add(TestNodes.start(dataDir.resolve("node" + i), "walkeeper.node-id = " + (i + 1)));
            addresses.add(nodes.get(i).address());
        }
    }

    @AfterEach
    void stopAll() throws Exception {
        for (ActorSystem<Bridge.Command> bridge : bridges) {
            stopBridge(bridge);
        }
        nodes.stream().filter(n -> n != null).forEach(WalkeeperNode::close);
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void commitsWaitForTheQuorumAndTheNodesStoreThePrimarysWal() throws Exception {
        // Without the bridge a commit waits for the synchronous standby.
        assertCommitWaits("create table before_bridge (id int)");

        startBridge();
        commit("create table t (id int primary key, v text)");
        commit("insert into t select g, md5(g::text) from generate_series(1, 1000) g");
        Lsn committed = Lsn.parse(pg.psql("select pg_current_wal_flush_lsn()"));
        commit("insert into t values (100001, 'x')");
        Lsn quorum = quorumFlush();
        assertTrue(quorum.compareTo(committed) > 0, quorum + " vs " + committed);
        assertNodesStoreThePrimarysWal(quorum, 0, 1, 2);
        Bridge.Status status = status(bridges.get(0));
        assertEquals(1, status.term());
        assertTrue(status.elected());
        assertEquals(quorum, status.commitLsn());
        for (Bridge.NodeStatus node : status.nodes()) {
            assertEquals(Proposer.NodeState.STREAMING, node.state(), status.summary());
            assertTrue(node.flushLsn().compareTo(committed) > 0, status.summary());
        }

        stopNode(2);
        commit("insert into t values (100002, 'one node down')");
        stopNode(1);
        assertCommitWaits("insert into t values (100003, 'two nodes down')");

        // The second node is back on its address: the bridge reconnects it and commits go on.
        restartNode(1);
        commit("insert into t values (100004, 'one node back')");
        Lsn after = quorumFlush();
        assertTrue(after.compareTo(quorum) > 0, after + " vs " + quorum);
        assertNodesStoreThePrimarysWal(after, 0, 1);

        // The primary crashes and restarts: the bridge reconnects and continues the same WAL.
        pg.stop();
        pg.start();
        commit("insert into t values (100005, 'primary restarted')");
        Lsn afterRestart = quorumFlush();
        assertTrue(afterRestart.compareTo(after) > 0, afterRestart + " vs " + after);
        assertNodesStoreThePrimarysWal(afterRestart, 0, 1);

        // Without a quorum the bridge stops reading the primary: its WAL is not piled up in memory.
        stopNode(1);
        BridgeChecks.psql(pg, "set synchronous_commit = local; insert into t select g, repeat('x', 2000)"
                + " from generate_series(200001, 240000) g", Duration.ofSeconds(60));
        Lsn written = Lsn.parse(pg.psql("select pg_current_wal_lsn()"));
        Lsn sent = awaitSentLsnSettled();
        System.out.printf("no quorum: the primary sent %s of %s%n", sent, written);
        assertTrue(written.value() - sent.value() > 32 << 20, "sent " + sent + " of " + written);
        restartNode(1);
        commit("insert into t values (100006, 'quorum back')");
        Lsn end = quorumFlush();
        assertTrue(end.compareTo(written) > 0, end + " vs " + written);
        assertNodesStoreThePrimarysWal(end, 0, 1);
    }

    /**
     * A node that missed the end of the last term (it was down) votes with a flush LSN below the
     * new term's start: the new bridge reads the primary from early enough to feed it, and it ends
     * up with the same WAL as the others.
     */
    @Test
    void aNewTermFeedsANodeThatMissedTheEndOfThePreviousOne() throws Exception {
        ActorSystem<Bridge.Command> first = startBridge();
        commit("create table t (id int primary key, v text)");
        Lsn lagging = quorumFlush();
        stopNode(2);
        commit("insert into t select g, md5(g::text) from generate_series(1, 2000) g");
        Lsn termEnd = quorumFlush();
        stopBridge(first);

        restartNode(2);
        startBridge();
        commit("insert into t values (100001, 'new term')");
        Lsn end = quorumFlush();
        assertTrue(lagging.compareTo(termEnd) < 0 && termEnd.compareTo(end) < 0, lagging + " < " + termEnd + " < " + end);
        assertNodesStoreThePrimarysWal(end, 0, 1, 2);
    }

    /**
     * A node that comes back further behind than the bridge's buffer stays behind, says so in the
     * bridge's status, and the quorum commits without it.
     */
    @Test
    void aNodeFurtherBehindThanTheBufferStaysBehindAndTheQuorumGoesOn() throws Exception {
        // The primary's WAL from before the test is more than the small buffer: a node elected a
        // moment late (a loaded machine) would be BEHIND from the start. A first bridge with the
        // default buffer brings all three up to date; the small-buffer bridge starts after it.
        ActorSystem<Bridge.Command> first = startBridge();
        commit("create table t (id int primary key, v text)");
        for (int node = 0; node < 3; node++) {
            awaitNodeState(first, node, Proposer.NodeState.STREAMING);
        }
        quorumFlush();
        stopBridge(first);
        ActorSystem<Bridge.Command> bridge = startBridge(1 << 20);
        commit("insert into t values (0, 'small buffer')");
        for (int node = 0; node < 3; node++) {
            awaitNodeState(bridge, node, Proposer.NodeState.STREAMING);
        }
        Lsn left = quorumFlush();
        stopNode(2);
        commit("insert into t select g, repeat('x', 1000) from generate_series(1, 5000) g");
        restartNode(2);
        Bridge.NodeStatus third = awaitNodeState(bridge, 2, Proposer.NodeState.BEHIND);
        assertTrue(third.streamingAt().compareTo(left) >= 0, third.toString());
        commit("insert into t values (100001, 'without node 2')");
        Lsn end = quorumFlush();
        assertNodesStoreThePrimarysWal(end, 0, 1);
        assertEquals(Proposer.NodeState.BEHIND, status(bridge).nodes().get(2).state());
    }

    /**
     * A node behind a black hole (partitioned or frozen: no error, only silence) leaves its
     * heartbeats unanswered: the bridge drops it within its reply timeout and the other two commit;
     * once the hole closes, the connection that waited in it reaches the node, which is elected
     * into the term again and streamed to.
     */
    @Test
    void aBlackHoledNodeIsDroppedWithinTheReplyTimeoutAndReconnectedWhenTheHoleCloses() throws Exception {
        Duration replyTimeout = Duration.ofSeconds(1);
        try (FaultProxy proxy = FaultProxy.start(addresses.get(2))) {
            ActorSystem<Bridge.Command> bridge = startBridge(List.of(addresses.get(0), addresses.get(1),
                    proxy.address()), Bridge.DEFAULT_BUFFER_BYTES, replyTimeout);
            commit("create table t (id int primary key)");
            awaitNodeState(bridge, 2, Proposer.NodeState.STREAMING);

            proxy.blackHole(true);
            long holed = System.nanoTime();
            // Out of the quorum: disconnected, then greeting again through the hole.
            awaitNode(bridge, 2, state -> state != Proposer.NodeState.STREAMING
                    && state != Proposer.NodeState.ELECTED);
            Duration dropped = Duration.ofNanos(System.nanoTime() - holed);
            // At most a heartbeat until something is owed, then the timeout and a check's period.
            assertTrue(dropped.compareTo(replyTimeout.multipliedBy(4)) < 0, "dropped after " + dropped);
            commit("insert into t values (1)");

            proxy.blackHole(false);
            awaitNodeState(bridge, 2, Proposer.NodeState.STREAMING);
            commit("insert into t values (2)");
            assertNodesStoreThePrimarysWal(quorumFlush(), 0, 1, 2);
        }
    }

    /**
     * A second bridge on the same nodes wins a higher term: the first steps down and stops, the
     * second takes the slot over once the first's walsender is gone, and commits go on.
     */
    @Test
    void aSecondBridgeTakesOverAndTheFirstStepsDown() throws Exception {
        ActorSystem<Bridge.Command> first = startBridge();
        commit("create table t (id int primary key)");
        startBridge();
        first.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        commit("insert into t values (1)");
        assertNodesStoreThePrimarysWal(quorumFlush(), 0, 1, 2);
    }

    private ActorSystem<Bridge.Command> startBridge() {
        return startBridge(Bridge.DEFAULT_BUFFER_BYTES);
    }

    private ActorSystem<Bridge.Command> startBridge(long bufferBytes) {
        return startBridge(addresses, bufferBytes, NodeProposerConnection.DEFAULT_REPLY_TIMEOUT);
    }

    private ActorSystem<Bridge.Command> startBridge(List<InetSocketAddress> nodeAddresses, long bufferBytes,
                                                    Duration replyTimeout) {
        ActorSystem<Bridge.Command> bridge = ActorSystem.create(Bridge.create(Bridge.Settings.defaults(
                new InetSocketAddress("127.0.0.1", pg.port()),
                PrimaryReplicationClient.Settings.defaults("postgres", null, NAME, NAME), nodeAddresses,
                NodeProposerConnection.Settings.defaults("bridge", null, ID).withReplyTimeout(replyTimeout))
                .withBufferBytes(bufferBytes)), "bridge");
        bridges.add(bridge);
        return bridge;
    }

    private static Bridge.Status status(ActorSystem<Bridge.Command> bridge) throws Exception {
        return AskPattern.<Bridge.Command, Bridge.Status>ask(bridge, Bridge.GetStatus::new, Duration.ofSeconds(5),
                bridge.scheduler()).toCompletableFuture().get();
    }

    private static Bridge.NodeStatus awaitNodeState(ActorSystem<Bridge.Command> bridge, int node,
                                                    Proposer.NodeState state) throws Exception {
        Bridge.NodeStatus reached = awaitNode(bridge, node, s -> s == state);
        assertEquals(state, reached.state());
        return reached;
    }

    /** The node's status once its state passes {@code condition}; fails with the bridge's summary after 30 s. */
    private static Bridge.NodeStatus awaitNode(ActorSystem<Bridge.Command> bridge, int node,
                                               Predicate<Proposer.NodeState> condition) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        Bridge.Status status = status(bridge);
        while (!condition.test(status.nodes().get(node).state()) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            status = status(bridge);
        }
        assertTrue(condition.test(status.nodes().get(node).state()), status.summary());
        return status.nodes().get(node);
    }

    private static void stopBridge(ActorSystem<Bridge.Command> bridge) throws Exception {
        bridge.terminate();
        bridge.getWhenTerminated().toCompletableFuture().get();
    }

    private void stopNode(int i) {
        nodes.set(i, null).close();
    }

    /** The node starts again on its data directory and address. */
    private void restartNode(int i) throws Exception {
        nodes.set(i, TestNodes.start(dataDir.resolve("node" + i),
                "walkeeper.node-id = " + (i + 1) + "\nwalkeeper.listen.port = " + addresses.get(i).getPort()));
    }

    private void assertNodesStoreThePrimarysWal(Lsn to, int... nodeIndexes) throws Exception {
        for (int i : nodeIndexes) {
            BridgeChecks.assertStoresThePrimarysWal(pg,
                    dataDir.resolve("node" + i).resolve(ID.tenantId()).resolve(ID.timelineId()), to);
        }
    }

    private void commit(String sql) {
        BridgeChecks.commit(pg, sql);
    }

    private void assertCommitWaits(String sql) {
        BridgeChecks.assertCommitWaits(pg, sql);
    }

    private Lsn quorumFlush() {
        return BridgeChecks.quorumFlush(pg);
    }

    /** The walsender's sent LSN once it has not moved for a second (it is held back by TCP). */
    private Lsn awaitSentLsnSettled() throws InterruptedException {
        Lsn last = Lsn.INVALID;
        long settledSince = System.nanoTime();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline) {
            Lsn sent = Lsn.parse(pg.psql("select sent_lsn from pg_stat_replication where application_name = '"
                    + NAME + "'"));
            if (!sent.equals(last)) {
                last = sent;
                settledSince = System.nanoTime();
            } else if (System.nanoTime() - settledSince > Duration.ofSeconds(1).toNanos()) {
                return sent;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("the walsender kept sending for 30 s, up to " + last);
    }
}
