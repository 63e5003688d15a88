package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.TestProposer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A stock PostgreSQL 15 hot standby streams its WAL from walkeeper, not from its primary: it is
 * made from a base backup of a real primary without WAL ({@code pg_basebackup -X none}), its
 * {@code primary_conninfo} names the walkeeper node, and the node holds the primary's WAL, pushed
 * as a proposer would. The standby must reach consistency from that WAL alone, then keep
 * replaying what is pushed later, so that a query on the standby sees rows inserted on the primary.
 *
 * <p>The standby names no timeline (a stock walreceiver passes no {@code options}): the node serves
 * it {@code walkeeper.default-timeline}.
 */
class HotStandbyTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final TenantTimelineId ID = new TenantTimelineId("77777777777777777777777777777777",
            "88888888888888888888888888888888");
    private static final long TERM = 1;
    private static final Duration CATCH_UP = Duration.ofSeconds(30);
    /** The rows of t, and the updated ones among them. */
    private static final String COUNTS = "select count(*), count(*) filter (where v = 'updated') from t";

    @TempDir
    Path dir;

    @Test
    void hotStandbyReplaysWalServedByWalkeeperAndSeesThePrimarysRows() throws Exception {
        try (PostgresServer primary = PostgresServer.builder().config("wal_keep_size = '1GB'").build().start()) {
            primary.psql("create table t (id int primary key, v text)");
            primary.psql("insert into t select g, md5(g::text) from generate_series(1, 1000) g");

            // The backup carries no WAL: everything from its checkpoint on must come from walkeeper.
            Path backup = dir.resolve("backup");
            ProcessResult basebackup = Processes.run(Command.of(primary.binaries().bin("pg_basebackup").toString(),
                    "-d", primary.conninfo("postgres"), "-D", backup.toString(), "-X", "none", "-c", "fast",
                    "--no-sync").timeout(Duration.ofSeconds(120)));
            basebackup.requireSuccess("pg_basebackup");
            assertTrue(isEmpty(backup.resolve("pg_wal")), "pg_basebackup -X none copies no WAL");
            Files.writeString(backup.resolve("standby.signal"), "");
            // Rows after the backup: the standby can only know them by replaying WAL.
            primary.psql("insert into t select g, md5(g::text) from generate_series(1001, 1500) g");

            long systemId = Long.parseUnsignedLong(primary.psql("select system_identifier from pg_control_system()"));
            int pgVersion = Integer.parseInt(primary.psql("show server_version_num"));
            // WAL from segment 1 (a fresh cluster's first) through the segment pg_switch_wal completes.
            Lsn start = Lsn.parse("0/1000028"); // the first record, after segment 1's long page header
            long lastSegment = switchWal(primary);
            byte[] firstWal = Arrays.copyOfRange(readSegments(primary, 1, lastSegment), 0x28, (int) (lastSegment * SEG));
            Lsn end = new Lsn((lastSegment + 1) * SEG);

            try (WalkeeperNode node = TestNodes.start(dir.resolve("node"),
                    "walkeeper.default-timeline = \"" + ID.tenantId() + "/" + ID.timelineId() + "\"");
                 TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
                proposer.greet(pgVersion, systemId, SEG);
                assertTrue(proposer.vote(TERM).voteGiven());
                proposer.elect(TERM, start, new TermHistory(List.of(new TermSwitch(TERM, start))));
                push(proposer, start, firstWal);

                int nodePort = node.address().getPort();
                try (PostgresServer standby = PostgresServer.builder()
                        .fromDataDirectory(backup)
                        .config("hot_standby = on")
                        .config("primary_conninfo = 'host=127.0.0.1 port=" + nodePort
                                + " user=standby application_name=standby'")
                        .config("wal_retrieve_retry_interval = '1s'")
                        .build()) {
                    // pg_ctl start -w returns once the standby is consistent and accepts connections,
                    // which needs the WAL up to the backup's end: only walkeeper has it.
                    standby.start();
                    assertEquals("t", standby.psql("select pg_is_in_recovery()"));
                    assertEquals("1500|0", awaitSame(primary, standby, COUNTS));
                    assertStreamingFrom(standby, nodePort);

                    // Later WAL: the same proposer appends on from where the first push ended.
                    primary.psql("insert into t select g, md5(g::text) from generate_series(1501, 2500) g");
                    primary.psql("update t set v = 'updated' where id <= 10");
                    long newLastSegment = switchWal(primary);
                    assertTrue(newLastSegment > lastSegment, "the switch completed a new segment");
                    push(proposer, end, readSegments(primary, lastSegment + 1, newLastSegment));

                    assertEquals("2500|10", awaitSame(primary, standby, COUNTS));
                    assertStreamingFrom(standby, nodePort);
                }
            }
        }
    }

    /** Switches the primary to a new WAL segment; returns the number of the segment it completed. */
    private static long switchWal(PostgresServer primary) {
        // pg_switch_wal returns the end of its switch record, in the segment it completed and flushed
        // whole, or, when nothing was written since the last switch (pg_basebackup makes one), the
        // start of the current segment, i.e. the end of the previous one: either way, the last byte
        // before it lies in the last complete segment.
        return (Lsn.parse(primary.psql("select pg_switch_wal()")).value() - 1) / SEG;
    }

    private static byte[] readSegments(PostgresServer primary, long first, long last) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (long seg = first; seg <= last; seg++) {
            out.writeBytes(Files.readAllBytes(primary.dataDir().resolve("pg_wal").resolve(XLogFileName.of(1, seg, SEG))));
        }
        return out.toByteArray();
    }

    /**
     * Appends {@code wal} at {@code begin} with commit LSN = its end, then an empty append (a
     * heartbeat) that publishes that commit, and waits until the node reports both flushed and
     * committed there: the node serves a standby only committed WAL.
     */
    private static void push(TestProposer proposer, Lsn begin, byte[] wal) throws IOException, InterruptedException {
        Lsn end = begin.plus(wal.length);
        int chunk = ProposerMessage.AppendRequest.MAX_SEND_SIZE;
        for (int offset = 0; offset < wal.length; offset += chunk) {
            proposer.append(TERM, begin.plus(offset), Arrays.copyOfRange(wal, offset, Math.min(wal.length, offset + chunk)),
                    end);
        }
        proposer.send(new ProposerMessage.AppendRequest(0, TERM, end, end, end, Lsn.INVALID, ByteSlice.EMPTY));
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        AcceptorMessage.AppendResponse response;
        do {
            response = proposer.awaitFlush(end, Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
        } while (response.commitLsn().compareTo(end) < 0);
        assertEquals(end, response.flushLsn());
    }

    /** Waits until {@code sql} answers on the standby what it answers on the primary; returns that. */
    private static String awaitSame(PostgresServer primary, PostgresServer standby, String sql)
            throws InterruptedException {
        String expected = primary.psql(sql);
        Await.until(CATCH_UP, () -> expected.equals(standby.psqlResult(sql).stdout().trim()),
                () -> "the standby answers " + standby.psqlResult(sql).stdout().trim() + " to " + sql
                        + ", the primary " + expected + standbyState(standby));
        return expected;
    }

    /** pg_stat_wal_receiver: streaming, and from the walkeeper node. */
    private static void assertStreamingFrom(PostgresServer standby, int nodePort) throws InterruptedException {
        String sql = "select status, sender_host, sender_port from pg_stat_wal_receiver";
        String expected = "streaming|127.0.0.1|" + nodePort;
        Await.until(CATCH_UP, () -> expected.equals(standby.psqlResult(sql).stdout().trim()),
                () -> "pg_stat_wal_receiver is not " + expected + standbyState(standby));
        assertEquals(expected, standby.psql(sql));
    }

    private static String standbyState(PostgresServer standby) {
        return "\n--- standby: receive/replay LSN, wal receiver ---\n"
                + standby.psqlResult("select pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()").stdout().trim() + "\n"
                + standby.psqlResult("select * from pg_stat_wal_receiver").stdout().trim()
                + "\n--- standby log (tail) ---\n" + Await.tail(standby.serverLog());
    }

    private static boolean isEmpty(Path directory) throws IOException {
        try (var files = Files.list(directory)) {
            return files.filter(f -> !Files.isDirectory(f)).findAny().isEmpty();
        }
    }
}
