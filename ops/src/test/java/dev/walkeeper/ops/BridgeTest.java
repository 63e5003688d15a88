package dev.walkeeper.ops;

import static dev.walkeeper.ops.BridgeChecks.NAME;
import static dev.walkeeper.ops.BridgeChecks.assertCommitWaits;
import static dev.walkeeper.ops.BridgeChecks.assertStoresThePrimarysWal;
import static dev.walkeeper.ops.BridgeChecks.commit;
import static dev.walkeeper.ops.BridgeChecks.quorumFlush;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.bridge.Bridge;
import dev.walkeeper.actors.bridge.NodeProposerConnection;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient;
import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.testkit.PostgresServer;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proposer bridge between a real PostgreSQL 15 primary (the bridge is its only synchronous
 * standby) and three in-process nodes: commits return once the quorum holds their WAL, the nodes
 * store the primary's WAL byte for byte, one node down is tolerated and two are not, a node
 * that comes back is reconnected.
 */
class BridgeTest {
    private static final TenantTimelineId ID = new TenantTimelineId("77777777777777777777777777777777",
            "88888888888888888888888888888888");

    @TempDir
    Path dataDir;

    @Test
    void commitsWaitForTheQuorumAndTheNodesStoreThePrimarysWal() throws Exception {
        List<WalkeeperNode> nodes = new ArrayList<>();
        ActorSystem<Bridge.Command> bridge = null;
        try (PostgresServer pg = PostgresServer.builder().synchronousStandbyNames(NAME)
                .config("synchronous_commit = on").build().start()) {
            for (int i = 0; i < 3; i++) {
                nodes.add(TestNodes.start(dataDir.resolve("node" + i), "walkeeper.node-id = " + (i + 1)));
            }
            // Without the bridge a commit waits for the synchronous standby.
            assertCommitWaits(pg, "create table before_bridge (id int)");

            bridge = ActorSystem.create(Bridge.create(Bridge.Settings.defaults(
                    new InetSocketAddress("127.0.0.1", pg.port()),
                    PrimaryReplicationClient.Settings.defaults("postgres", null, NAME, NAME),
                    nodes.stream().map(WalkeeperNode::address).toList(),
                    NodeProposerConnection.Settings.defaults("bridge", null, ID))), "bridge");

            commit(pg, "create table t (id int primary key, v text)");
            commit(pg, "insert into t select g, md5(g::text) from generate_series(1, 1000) g");
            Lsn committed = Lsn.parse(pg.psql("select pg_current_wal_flush_lsn()"));
            commit(pg, "insert into t values (100001, 'x')");
            Lsn quorum = quorumFlush(pg);
            assertTrue(quorum.compareTo(committed) > 0, quorum + " vs " + committed);

            for (int i = 0; i < 3; i++) {
                assertStoresThePrimarysWal(pg, timeline(dataDir.resolve("node" + i)), quorum);
            }

            nodes.remove(2).close();
            commit(pg, "insert into t values (100002, 'one node down')");
            WalkeeperNode second = nodes.remove(1);
            int secondPort = second.address().getPort();
            second.close();
            assertCommitWaits(pg, "insert into t values (100003, 'two nodes down')");

            // The second node is back on its address: the bridge reconnects it and commits go on.
            nodes.add(TestNodes.start(dataDir.resolve("node1"),
                    "walkeeper.node-id = 2\nwalkeeper.listen.port = " + secondPort));
            commit(pg, "insert into t values (100004, 'one node back')");
            Lsn after = quorumFlush(pg);
            assertTrue(after.compareTo(quorum) > 0, after + " vs " + quorum);
            for (int i = 0; i < 2; i++) {
                assertStoresThePrimarysWal(pg, timeline(dataDir.resolve("node" + i)), after);
            }
        } finally {
            if (bridge != null) {
                bridge.terminate();
                bridge.getWhenTerminated().toCompletableFuture().get();
            }
            nodes.forEach(WalkeeperNode::close);
        }
    }

    /** Where a node keeps the timeline's WAL segments. */
    private static Path timeline(Path nodeData) {
        return nodeData.resolve(ID.tenantId()).resolve(ID.timelineId());
    }
}
