package dev.walkeeper.ops;

import static dev.walkeeper.ops.BridgeChecks.NAME;
import static dev.walkeeper.ops.BridgeChecks.assertCommitWaits;
import static dev.walkeeper.ops.BridgeChecks.assertStoresThePrimarysWal;
import static dev.walkeeper.ops.BridgeChecks.commit;
import static dev.walkeeper.ops.BridgeChecks.firstRecord;
import static dev.walkeeper.ops.BridgeChecks.psql;
import static dev.walkeeper.ops.BridgeChecks.quorumFlush;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.FreePort;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.MatchResult;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;

/**
 * The proposer bridge and three nodes, each in its own JVM, crashed with SIGKILL while a real
 * PostgreSQL 15 primary, whose only synchronous standby is the bridge, is under load: a node
 * killed and restarted under pgbench rejoins and every node ends with the primary's WAL byte for
 * byte; a frozen node (SIGSTOP) is dropped and reconnected once resumed; two nodes down block
 * commits until one is back; a bridge killed under load is replaced by
 * a new one elected in a higher term, and a standby fed from a node's WAL alone has every commit
 * the primary acknowledged.
 */
class BridgeCrashTest {
    private static final TenantTimelineId ID = new TenantTimelineId("99999999999999999999999999999999",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    /** Startup options naming the timeline, for clients of a node that are not the bridge. */
    private static final String TIMELINE_OPTIONS = "-c tenant_id=" + ID.tenantId() + " timeline_id=" + ID.timelineId();
    private static final Pattern ELECTED = Pattern.compile("elected in term (\\d+),");
    private static final Pattern PROCESSED = Pattern.compile("number of transactions actually processed: (\\d+)");
    private static final Duration CATCH_UP = Duration.ofSeconds(60);
    /** Short, so a frozen node is dropped soon; long enough for a live node's answer under pgbench on two cores. */
    private static final String REPLY_TIMEOUT = "3s";
    private static final int NODES = 3;
    private static final int PGBENCH_CLIENTS = 4;

    @TempDir
    Path dir;

    /** Process logs outlive a failed test for diagnosis. */
    @TempDir(cleanup = CleanupMode.ON_SUCCESS)
    Path logs;

    private PostgresServer pg;
    private final int[] ports = new int[NODES];
    private final RunningProcess[] nodes = new RunningProcess[NODES];
    private final int[] nodeStarts = new int[NODES];
    private RunningProcess bridge;
    private int bridgeStarts;
    private long firstTerm;

    @BeforeEach
    void startPrimaryNodesAndBridge() throws InterruptedException {
        System.out.println("process logs in " + logs);
        // wal_keep_size: the WAL checks read the primary's pg_wal from the nodes' first segment on.
        pg = PostgresServer.builder().synchronousStandbyNames(NAME).config("synchronous_commit = on")
                .config("wal_keep_size = '1GB'").build().start();
        for (int i = 0; i < NODES; i++) {
            ports[i] = FreePort.find();
            startNode(i);
        }
        bridge = startBridge();
        firstTerm = awaitElection(bridge);
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
    void aNodeKilledUnderPgbenchRejoinsAndEveryNodeStoresThePrimarysWal() throws Exception {
        pgbench(Duration.ofSeconds(120), "-i", "-s", "5", "-q").requireSuccess("pgbench -i");
        Lsn loadStart = currentLsn();
        long started = System.nanoTime();
        CompletableFuture<ProcessResult> run = CompletableFuture.supplyAsync(() -> pgbench(Duration.ofSeconds(90),
                "-c", Integer.toString(PGBENCH_CLIENTS), "-j", "2", "-T", "20"));

        Thread.sleep(6000); // the scenario: a node dies well into the run
        nodes[1].kill();
        Lsn atKill = currentLsn();
        long committedAtKill = historyRows();
        Thread.sleep(1500); // down for a moment, then back on its data directory and port
        startNode(1);
        awaitLog(bridge, Pattern.compile("node 1 \\([^)]*\\) connected"), 2, CATCH_UP);
        Lsn atRejoin = currentLsn();
        long committedAtRejoin = historyRows();

        ProcessResult result = run.get(120, TimeUnit.SECONDS);
        assertEquals(0, result.exitCode(), "pgbench" + result.stdout() + result.stderr());
        // On a slow machine the first run may end before the node is back: a second run after its
        // return shows that commits go on with it in the quorum again.
        ProcessResult afterReturn = pgbench(Duration.ofSeconds(60), "-n", "-c", Integer.toString(PGBENCH_CLIENTS),
                "-j", "2", "-T", "5");
        assertEquals(0, afterReturn.exitCode(), "pgbench" + afterReturn.stdout() + afterReturn.stderr());
        long seconds = (System.nanoTime() - started) / 1_000_000_000;
        Lsn end = Lsn.parse(pg.psql("select pg_current_wal_flush_lsn()"));
        System.out.printf("%s%n%s%npgbench: %d KiB of WAL in %d s; %d KiB written between the kill and the bridge's"
                        + " reconnection of the node%n", result.stdout().strip(), afterReturn.stdout().strip(),
                (end.value() - loadStart.value()) >> 10, seconds, (atRejoin.value() - atKill.value()) >> 10);

        long transactions = processed(result) + processed(afterReturn);
        long committed = historyRows();
        // One pgbench_history row per transaction: each one pgbench counted is there; a client cut
        // off by -T may have committed one more that pgbench did not count (in each run).
        assertTrue(committed >= transactions && committed <= transactions + 2 * PGBENCH_CLIENTS,
                committed + " history rows, pgbench counted " + transactions);
        assertTrue(committedAtRejoin > committedAtKill, "commits went on with a node down: " + committedAtKill
                + " at the kill, " + committedAtRejoin + " when it was reconnected");
        assertTrue(committed > committedAtRejoin, "commits went on after the node's return: " + committedAtRejoin
                + " then, " + committed + " at the end");

        awaitQuorumFlush(end);
        for (int i = 0; i < NODES; i++) {
            assertStoresThePrimarysWal(pg, timelineDir(i), end);
            assertPgWaldumpReads(timelineDir(i), end);
        }
    }

    private static long processed(ProcessResult pgbench) {
        Matcher processed = PROCESSED.matcher(pgbench.stdout());
        assertTrue(processed.find(), pgbench.stdout());
        return Long.parseLong(processed.group(1));
    }

    @Test
    void twoNodesDownBlockCommitsUntilOneIsBack() throws Exception {
        commit(pg, "create table t (id int primary key, v text)");
        // Frozen (SIGSTOP: its kernel still takes bytes, it answers nothing), a node is dropped after
        // the reply timeout while the other two commit; resumed, it is reconnected.
        signal(nodes[2], "STOP");
        awaitLog(bridge, Pattern.compile("node 2 \\([^)]*\\) failed: the node sent nothing for"), 1, CATCH_UP);
        commit(pg, "insert into t values (0, 'node 2 frozen')");
        signal(nodes[2], "CONT");
        awaitLog(bridge, Pattern.compile("node 2 \\([^)]*\\) connected"), 2, CATCH_UP);
        nodes[1].kill();
        nodes[2].kill();
        CompletableFuture<ProcessResult> blocked = CompletableFuture.supplyAsync(() -> psql(pg,
                "insert into t values (1, 'blocked')", Duration.ofSeconds(90)));
        assertCommitWaits(pg, "insert into t values (2, 'given up')");
        assertFalse(blocked.isDone(), "a commit waits while two of three nodes are down");

        startNode(1);
        commit(pg, "insert into t values (3, 'one node back')");
        ProcessResult released = blocked.get(30, TimeUnit.SECONDS);
        assertEquals(0, released.exitCode(), released.stderr());
        assertEquals("2", pg.psql("select count(*) from t where id in (1, 3)"));

        Lsn quorum = quorumFlush(pg);
        for (int i = 0; i < 2; i++) {
            assertStoresThePrimarysWal(pg, timelineDir(i), quorum);
        }
    }

    @Test
    void aBridgeKilledUnderLoadIsReelectedInAHigherTermAndNoAcknowledgedCommitIsLost() throws Exception {
        commit(pg, "create table acked (id int primary key)");
        commit(pg, "create table load_done (id int)");
        // Without WAL: everything after the backup's checkpoint must come from the node.
        Path backup = dir.resolve("backup");
        Processes.run(Command.of(pg.binaries().bin("pg_basebackup").toString(), "-d", pg.conninfo("postgres"),
                "-D", backup.toString(), "-X", "none", "-c", "fast", "--no-sync").timeout(Duration.ofSeconds(120)))
                .requireSuccess("pg_basebackup");
        Files.writeString(backup.resolve("standby.signal"), "");

        Load load = new Load(pg.port());
        try {
            load.awaitAcknowledged(200);
            bridge.kill();
            int beforeRestart = load.acknowledged.size();
            bridge = startBridge();
            long term = awaitElection(bridge);
            assertTrue(term > firstTerm, "the new bridge's term " + term + " is above " + firstTerm);
            int atElection = load.acknowledged.size();
            System.out.printf("acknowledged: %d at the kill, %d at the new election in term %d%n", beforeRestart,
                    atElection, term);
            load.awaitAcknowledged(atElection + 200); // commits continue under the new bridge
        } finally {
            load.stop();
        }
        assertNull(load.failure, () -> "the load client failed: " + load.failure);
        // The last commit: once a standby sees it, it has replayed every acknowledged one before it.
        commit(pg, "insert into load_done values (1)");
        Lsn end = Lsn.parse(pg.psql("select pg_current_wal_flush_lsn()"));
        awaitQuorumFlush(end);
        // A node serves a standby only committed WAL: its commit LSN must be there before the
        // primary (and with it the bridge, which tells the nodes) goes away.
        Await.until(CATCH_UP, () -> nodeCommitLsn(0).compareTo(end) >= 0, () -> "node 0's commit LSN " + nodeCommitLsn(0)
                + " below " + end);
        Set<Integer> onPrimary = ids(pg);
        pg.stop();

        try (PostgresServer standby = PostgresServer.builder().fromDataDirectory(backup)
                .config("hot_standby = on")
                .config("primary_conninfo = 'host=127.0.0.1 port=" + ports[0] + " user=standby options=''"
                        + TIMELINE_OPTIONS + "'''")
                .config("wal_retrieve_retry_interval = '1s'")
                .build().start()) {
            Await.until(CATCH_UP, () -> "1".equals(standby.psqlResult("select count(*) from load_done").stdout().trim()),
                    () -> "the standby did not replay the last commit: receive/replay LSN "
                            + standby.psqlResult("select pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()")
                            .stdout().trim() + "\n" + Await.tail(standby.serverLog()));
            Set<Integer> onStandby = ids(standby);
            Set<Integer> lost = new TreeSet<>(load.acknowledged);
            lost.removeAll(onStandby);
            assertTrue(lost.isEmpty(), "acknowledged but not on the standby: " + lost);
            Set<Integer> unknown = new TreeSet<>(onStandby);
            unknown.removeAll(load.attempted);
            assertTrue(unknown.isEmpty(), "on the standby but never inserted: " + unknown);
            assertEquals(onPrimary, onStandby);
            System.out.printf("standby from node 0's WAL: %d rows, %d acknowledged%n", onStandby.size(),
                    load.acknowledged.size());
        }
    }

    /**
     * One client inserting one row per autocommit transaction, recording every id it sent and
     * every id whose COMMIT came back.
     */
    private static final class Load {
        final Set<Integer> attempted = ConcurrentHashMap.newKeySet();
        final Set<Integer> acknowledged = ConcurrentHashMap.newKeySet();
        volatile SQLException failure;
        private volatile boolean stopping;
        private final Thread thread;

        Load(int port) {
            thread = new Thread(() -> insert("jdbc:postgresql://127.0.0.1:" + port
                    + "/postgres?user=postgres&ApplicationName=load&socketTimeout=120"), "load");
            thread.start();
        }

        private void insert(String url) {
            try (Connection connection = DriverManager.getConnection(url);
                 PreparedStatement insert = connection.prepareStatement("insert into acked values (?)")) {
                for (int id = 1; !stopping; id++) {
                    attempted.add(id);
                    insert.setInt(1, id);
                    insert.executeUpdate();
                    acknowledged.add(id);
                }
            } catch (SQLException e) {
                failure = e;
            }
        }

        void awaitAcknowledged(int count) throws InterruptedException {
            Await.until(CATCH_UP, () -> acknowledged.size() >= count || !thread.isAlive(),
                    () -> acknowledged.size() + " commits acknowledged, waiting for " + count);
            assertTrue(thread.isAlive(), () -> "the load client stopped: " + failure);
        }

        void stop() throws InterruptedException {
            stopping = true;
            thread.join(CATCH_UP.toMillis());
            assertFalse(thread.isAlive(), "the load client is stuck in a commit");
        }
    }

    private void startNode(int i) {
        nodes[i] = WalkeeperProcesses.node(dir.resolve("node" + i), ports[i], i + 1,
                logs.resolve("node" + i + "-" + ++nodeStarts[i] + ".log"));
    }

    private RunningProcess startBridge() {
        return WalkeeperProcesses.bridge(pg.port(), Arrays.stream(ports).boxed().toList(), ID,
                logs.resolve("bridge-" + ++bridgeStarts + ".log"), "--node-reply-timeout", REPLY_TIMEOUT);
    }

    private static void signal(RunningProcess process, String signal) {
        Processes.run(Command.of("kill", "-" + signal, Long.toString(process.pid()))).requireSuccess("kill -" + signal);
    }

    /** The term the bridge was elected in. */
    private static long awaitElection(RunningProcess bridge) throws InterruptedException {
        return Long.parseLong(awaitLog(bridge, ELECTED, 1, CATCH_UP).group(1));
    }

    /**
     * Waits until the process has logged {@code count} lines matching {@code pattern}; returns
     * the last match.
     */
    private static MatchResult awaitLog(RunningProcess process, Pattern pattern, int count, Duration limit)
            throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (true) {
            List<MatchResult> matches = pattern.matcher(process.output()).results().toList();
            if (matches.size() >= count) {
                return matches.get(count - 1);
            }
            if (!process.isAlive() || System.nanoTime() > deadline) {
                throw new AssertionError("no " + count + " lines '" + pattern + "' (alive: " + process.isAlive()
                        + ") in " + process.logFile() + ":\n" + Await.tail(process.output()));
            }
            Thread.sleep(20);
        }
    }

    private ProcessResult pgbench(Duration limit, String... args) {
        List<String> argv = new ArrayList<>(List.of(pg.binaries().bin("pgbench").toString(),
                "-h", "127.0.0.1", "-p", Integer.toString(pg.port()), "-U", "postgres"));
        argv.addAll(List.of(args));
        argv.add("postgres");
        return Processes.run(Command.of(argv).timeout(limit));
    }

    private long historyRows() {
        return Long.parseLong(pg.psql("select count(*) from pgbench_history"));
    }

    private Lsn currentLsn() {
        return Lsn.parse(pg.psql("select pg_current_wal_lsn()"));
    }

    private void awaitQuorumFlush(Lsn target) throws InterruptedException {
        Await.until(CATCH_UP, () -> quorumFlush(pg).compareTo(target) >= 0, () -> "the quorum flush " + quorumFlush(pg)
                + " did not reach the primary's " + target);
    }

    /** The node's commit LSN of the timeline, from TIMELINE_STATUS (flush, commit). */
    private Lsn nodeCommitLsn(int node) {
        String status = Processes.run(Command.of(pg.binaries().bin("psql").toString(), "-X", "-A", "-t",
                "-d", "host=127.0.0.1 port=" + ports[node] + " user=walkeeper replication=true options='"
                        + TIMELINE_OPTIONS + "'", "-c", "TIMELINE_STATUS"))
                .requireSuccess("TIMELINE_STATUS on node " + node).stdout().trim();
        return Lsn.parse(status.split("\\|")[1]);
    }

    private Path timelineDir(int node) {
        return dir.resolve("node" + node).resolve(ID.tenantId()).resolve(ID.timelineId());
    }

    /** pg_waldump decodes the node's WAL from its first record to {@code to} without an error. */
    private void assertPgWaldumpReads(Path timelineDir, Lsn to) throws IOException {
        // pg_waldump looks segments up by their final names; the node's last one is still .partial.
        Path named = Files.createTempDirectory(dir, "waldump");
        try (var files = Files.list(timelineDir)) {
            for (Path file : files.toList()) {
                String name = file.getFileName().toString().replace(".partial", "");
                if (XLogFileName.isWalFileName(name)) {
                    Files.createSymbolicLink(named.resolve(name), file);
                }
            }
        }
        Lsn from = firstRecord(timelineDir);
        ProcessResult waldump = Processes.run(Command.of(pg.binaries().bin("pg_waldump").toString(),
                "--path", named.toString(), "--start", from.toString(), "--end", to.toString(), "--quiet")
                .timeout(Duration.ofSeconds(120)));
        assertEquals(0, waldump.exitCode(), "pg_waldump of " + timelineDir + waldump.stdout() + waldump.stderr());
        System.out.printf("pg_waldump read %s [%s, %s)%n", timelineDir, from, to);
    }

    private static Set<Integer> ids(PostgresServer server) {
        String rows = server.psql("select id from acked");
        return rows.isEmpty() ? Set.of() : Arrays.stream(rows.split("\n")).map(Integer::valueOf)
                .collect(Collectors.toCollection(TreeSet::new));
    }
}
