package dev.walkeeper.ops;

import static dev.walkeeper.ops.BridgeChecks.NAME;
import static dev.walkeeper.ops.BridgeChecks.assertStoresThePrimarysWal;
import static dev.walkeeper.ops.BridgeChecks.commit;
import static dev.walkeeper.ops.BridgeChecks.quorumFlush;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.FreePort;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * Peer recovery across processes: three clustered nodes behind the bridge (a 2 MB buffer) and a
 * real PostgreSQL 15 primary. A node killed with SIGKILL misses far more WAL than the bridge
 * keeps; back on its data directory it is BEHIND for the bridge, fetches the missing WAL from a
 * peer of the same term (START_REPLICATION ... (term='N')), is streamed to by the bridge again,
 * and ends with the primary's WAL — the others' — byte for byte.
 */
class PeerRecoveryProcessTest {
    private static final TenantTimelineId ID = new TenantTimelineId("88888888888888888888888888888888",
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    private static final String TIMELINE_OPTIONS = "-c tenant_id=" + ID.tenantId() + " timeline_id=" + ID.timelineId();
    private static final Duration CATCH_UP = Duration.ofSeconds(90);
    private static final int NODES = 3;

    @TempDir
    Path dir;

    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path logs;

    private PostgresServer pg;
    private final int[] ports = new int[NODES];
    private final int[] clusterPorts = new int[NODES];
    private final RunningProcess[] nodes = new RunningProcess[NODES];
    private final int[] nodeStarts = new int[NODES];
    private RunningProcess bridge;

    @BeforeEach
    void startPrimaryNodesAndBridge() throws InterruptedException {
        System.out.println("process logs in " + logs);
        pg = PostgresServer.builder().synchronousStandbyNames(NAME).config("synchronous_commit = on")
                .config("wal_keep_size = '1GB'").build().start();
        for (int i = 0; i < NODES; i++) {
            ports[i] = FreePort.find();
            clusterPorts[i] = FreePort.find();
        }
        for (int i = 0; i < NODES; i++) {
            startNode(i);
        }
        bridge = WalkeeperProcesses.bridge(pg.port(), Arrays.stream(ports).boxed().toList(), ID,
                logs.resolve("bridge.log"), "--buffer-size", "2MB");
        bridge.awaitLog("elected in term", CATCH_UP);
    }

    @AfterEach
    void stopAll() {
        if (bridge != null) {
            bridge.close();
        }
        for (RunningProcess node : nodes) {
            if (node != null) {
                node.close();
            }
        }
        if (pg != null) {
            pg.close();
        }
    }

    @Test
    void aNodeBackBeyondTheBridgesBufferCatchesUpFromItsPeersAndStoresTheSameWal() throws Exception {
        commit(pg, "create table t (id int primary key, v text)");
        commit(pg, "insert into t select g, 'before' from generate_series(1, 1000) g");
        nodes[1].kill();

        // ~20 MB of WAL while node 1 is down: far beyond the bridge's 2 MB buffer.
        commit(pg, "insert into t select g, repeat('x', 200) from generate_series(1001, 61000) g");
        Lsn missed = Lsn.parse(pg.psql("select pg_current_wal_flush_lsn()"));
        awaitQuorumFlush(missed);

        startNode(1);
        nodes[1].awaitLog("recovering WAL of term", CATCH_UP);
        for (int i = 0; i < 20; i++) {
            commit(pg, "insert into t values (" + (200_000 + i) + ", 'while it recovers')");
        }
        Await.until(CATCH_UP, () -> nodeFlushLsn(1).compareTo(missed) >= 0,
                () -> "node 1's flush " + nodeFlushLsn(1) + " did not reach " + missed);

        // Once caught up, the bridge streams to it again: new commits reach it without recovery.
        for (int i = 0; i < 20; i++) {
            commit(pg, "insert into t values (" + (300_000 + i) + ", 'after')");
        }
        Lsn end = Lsn.parse(pg.psql("select pg_current_wal_flush_lsn()"));
        awaitQuorumFlush(end);
        Await.until(CATCH_UP, () -> nodeFlushLsn(1).compareTo(end) >= 0,
                () -> "node 1's flush " + nodeFlushLsn(1) + " did not follow the bridge to " + end);
        for (int i = 0; i < NODES; i++) {
            assertStoresThePrimarysWal(pg, timelineDir(i), end);
        }
        assertTrue(nodes[1].output().contains("stopping recovery from node"), "the recovery stream ended");
    }

    private void startNode(int i) {
        nodes[i] = WalkeeperProcesses.node(dir.resolve("node" + i), ports[i], i + 1,
                logs.resolve("node" + i + "-" + ++nodeStarts[i] + ".log"),
                List.of("-Dwalkeeper.recovery.min-lag=1MiB", "-Dwalkeeper.recovery.check-interval=500ms"),
                List.of("--cluster-listen", "127.0.0.1:" + clusterPorts[i],
                        "--seed-nodes", "127.0.0.1:" + clusterPorts[0] + ",127.0.0.1:" + clusterPorts[2]));
    }

    private void awaitQuorumFlush(Lsn target) throws InterruptedException {
        Await.until(CATCH_UP, () -> quorumFlush(pg).compareTo(target) >= 0, () -> "the quorum flush " + quorumFlush(pg)
                + " did not reach the primary's " + target);
    }

    /** The node's own flush LSN of the timeline: the first row of TIMELINE_STATUS (flush, commit, ...). */
    private Lsn nodeFlushLsn(int node) {
        String status = Processes.run(Command.of(pg.binaries().bin("psql").toString(), "-X", "-A", "-t",
                "-d", "host=127.0.0.1 port=" + ports[node] + " user=walkeeper replication=true options='"
                        + TIMELINE_OPTIONS + "'", "-c", "TIMELINE_STATUS"))
                .requireSuccess("TIMELINE_STATUS on node " + node).stdout().trim();
        return Lsn.parse(status.split("\n")[0].split("\\|")[0]);
    }

    private Path timelineDir(int node) {
        return dir.resolve("node" + node).resolve(ID.tenantId()).resolve(ID.timelineId());
    }
}
