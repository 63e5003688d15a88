package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.TestProposer;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * WAL written by a real PostgreSQL 15 is pushed through a node: the node stores it byte for byte
 * and pg_waldump reads what it stored.
 */
class RealWalPushTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final TenantTimelineId ID = new TenantTimelineId("55555555555555555555555555555555",
            "66666666666666666666666666666666");

    @TempDir
    Path dataDir;

    @Test
    void realPostgresWalIsStoredExactlyAndPgWaldumpReadsIt() throws Exception {
        byte[] wal;
        Lsn start;
        Lsn end;
        long systemId;
        int pgVersion;
        try (PostgresServer pg = PostgresServer.builder().config("wal_keep_size = '1GB'").build().start()) {
            pg.psql("create table t (id int primary key, v text)");
            pg.psql("insert into t select g, repeat(md5(g::text), 40) from generate_series(1, 20000) g");
            systemId = Long.parseUnsignedLong(pg.psql("select system_identifier from pg_control_system()"));
            pgVersion = Integer.parseInt(pg.psql("show server_version_num"));
            Lsn switchedAt = Lsn.parse(pg.psql("select pg_switch_wal()"));
            // The switch record's segment is complete; everything before it is in whole segments.
            long lastSegment = switchedAt.value() / SEG;
            long firstSegment = lastSegment;
            while (Files.exists(pg.dataDir().resolve("pg_wal").resolve(XLogFileName.of(1, firstSegment - 1, SEG)))) {
                firstSegment--;
            }
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (long seg = firstSegment; seg <= lastSegment; seg++) {
                out.writeBytes(Files.readAllBytes(pg.dataDir().resolve("pg_wal").resolve(XLogFileName.of(1, seg, SEG))));
            }
            assertEquals(1, firstSegment, "a fresh cluster's WAL starts in segment 1");
            start = Lsn.parse("0/1000028"); // first record, after segment 1's long page header
            end = new Lsn((lastSegment + 1) * SEG);
            wal = Arrays.copyOfRange(out.toByteArray(), 0x28, out.size());
        }

        try (WalkeeperNode node = TestNodes.start(dataDir, "");
             TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
            proposer.greet(pgVersion, systemId, SEG);
            assertTrue(proposer.vote(1).voteGiven());
            proposer.elect(1, start, new TermHistory(List.of(new TermSwitch(1, start))));
            for (int offset = 0; offset < wal.length; offset += 128 * 1024) {
                byte[] chunk = Arrays.copyOfRange(wal, offset, Math.min(wal.length, offset + 128 * 1024));
                proposer.append(1, start.plus(offset), chunk, start);
            }
            // The switch record ends at the next segment's start: the whole stream is acknowledged.
            assertEquals(end, proposer.awaitFlush(end, Duration.ofSeconds(60)).flushLsn());
        }

        Path timelineDir = dataDir.resolve(ID.tenantId()).resolve(ID.timelineId());
        assertArrayEquals(wal, WalPushTest.readWal(timelineDir, start, end));
        Path copy = Files.createDirectories(dataDir.resolve("waldump"));
        try (var files = Files.list(timelineDir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString().replace(".partial", "");
                if (XLogFileName.isWalFileName(name)) {
                    Files.copy(f, copy.resolve(name));
                }
            }
        }
        ProcessResult waldump = Processes.run(Command.of(
                dev.walkeeper.testkit.PgBinaries.require().bin("pg_waldump").toString(),
                "--path", copy.toString(), "--start", start.toString(), "--end", end.toString(), "--quiet")
                .timeout(Duration.ofSeconds(60)));
        assertEquals(0, waldump.exitCode(), waldump.stderr());
    }
}
