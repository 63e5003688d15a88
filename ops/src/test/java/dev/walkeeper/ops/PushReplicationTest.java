package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
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
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * No dial-back: a node holding committed WAL connects to a `walkeeper receive` downstream itself
 * (START_PUSH_REPLICATION) and pushes it. The downstream's folder is read by pg_waldump and serves
 * a real PostgreSQL 15 standby's restore_command, which replays the primary's rows.
 */
class PushReplicationTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final TenantTimelineId ID = new TenantTimelineId("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
            "cccccccccccccccccccccccccccccccc");
    private static final Duration CATCH_UP = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    @Test
    void committedWalIsPushedToADownstreamWhoseFolderServesAStandby() throws Exception {
        // restore_command runs as PostgreSQL's OS user: the downstream's folder must be readable to it.
        Path shared = Files.createTempDirectory(Path.of("/tmp"), "walkeeper-push",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwxr-xr-x")));
        try (PostgresServer primary = PostgresServer.builder().config("wal_keep_size = '1GB'").build().start()) {
            primary.psql("create table t (id int primary key, v text)");
            Path backup = dir.resolve("backup");
            Processes.run(Command.of(primary.binaries().bin("pg_basebackup").toString(), "-d",
                    primary.conninfo("postgres"), "-D", backup.toString(), "-X", "none", "-c", "fast", "--no-sync")
                    .timeout(Duration.ofSeconds(120))).requireSuccess("pg_basebackup");
            primary.psql("insert into t select g, repeat(md5(g::text), 10) from generate_series(1, 5000) g");
            long systemId = Long.parseUnsignedLong(primary.psql("select system_identifier from pg_control_system()"));
            int pgVersion = Integer.parseInt(primary.psql("show server_version_num"));
            long lastSegment = (Lsn.parse(primary.psql("select pg_switch_wal()")).value() - 1) / SEG;
            ByteArrayOutputStream segments = new ByteArrayOutputStream();
            for (long seg = 1; seg <= lastSegment; seg++) {
                segments.writeBytes(Files.readAllBytes(primary.dataDir().resolve("pg_wal")
                        .resolve(XLogFileName.of(1, seg, SEG))));
            }
            Lsn start = Lsn.parse("0/1000028");
            Lsn end = new Lsn((lastSegment + 1) * SEG);
            byte[] wal = Arrays.copyOfRange(segments.toByteArray(), 0x28, segments.size());

            Path received = shared.resolve("received");
            try (WalkeeperNode downstream = TestNodes.start(dir.resolve("downstream"),
                    "walkeeper.receive { enabled = true, dir = \"" + received + "\" }");
                 WalkeeperNode node = TestNodes.start(dir.resolve("node"), """
                         walkeeper.push.downstreams = [
                           { timeline = "%s/%s", host = "127.0.0.1", port = %d, user = "pusher" }
                         ]
                         """.formatted(ID.tenantId(), ID.timelineId(), downstream.address().getPort()));
                 TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
                proposer.greet(pgVersion, systemId, SEG);
                assertTrue(proposer.vote(1).voteGiven());
                proposer.elect(1, start, new TermHistory(List.of(new TermSwitch(1, start))));
                for (int offset = 0; offset < wal.length; offset += 128 * 1024) {
                    proposer.append(1, start.plus(offset),
                            Arrays.copyOfRange(wal, offset, Math.min(wal.length, offset + 128 * 1024)), start);
                }
                proposer.awaitFlush(end, Duration.ofSeconds(60));
                proposer.send(new ProposerMessage.AppendRequest(0, 1, end, end, end, Lsn.INVALID, ByteSlice.EMPTY));

                // Every segment arrives under its final name, byte for byte.
                Path timelineDir = received.resolve(ID.tenantId()).resolve(ID.timelineId());
                Path last = timelineDir.resolve(XLogFileName.of(1, lastSegment, SEG));
                long deadline = System.nanoTime() + CATCH_UP.toNanos();
                while (!Files.exists(last) && System.nanoTime() < deadline) {
                    Thread.sleep(50); // polling a file the downstream renames into place; bounded above
                }
                assertTrue(Files.exists(last), "the downstream completed segment " + last.getFileName());
                for (long seg = 2; seg <= lastSegment; seg++) {
                    String name = XLogFileName.of(1, seg, SEG);
                    assertArrayEquals(Files.readAllBytes(primary.dataDir().resolve("pg_wal").resolve(name)),
                            Files.readAllBytes(timelineDir.resolve(name)), name);
                }
                // The node lists the downstream among the timeline's consumers.
                ProcessResult consumers = Processes.run(Command.of(primary.binaries().bin("psql").toString(), "-X",
                        "-A", "-t", "-d", "host=127.0.0.1 port=" + node.address().getPort() + " user=ops"
                                + " replication=true options='-c tenant_id=" + ID.tenantId() + " timeline_id="
                                + ID.timelineId() + "'", "-c", "TIMELINE_CONSUMERS").timeout(Duration.ofSeconds(30)));
                assertTrue(consumers.stdout().startsWith("push|connected") && consumers.stdout().contains(
                        "127.0.0.1:" + downstream.address().getPort()), consumers.stdout() + consumers.stderr());

                ProcessResult waldump = Processes.run(Command.of(primary.binaries().bin("pg_waldump").toString(),
                        "--path", timelineDir.toString(), "--start", start.toString(), "--end", end.toString(),
                        "--quiet").timeout(Duration.ofSeconds(60)));
                assertEquals(0, waldump.exitCode(), waldump.stderr());

                // A standby restoring from the folder replays up to the primary's last WAL.
                try (PostgresServer standby = PostgresServer.builder().fromDataDirectory(backup)
                        .config("restore_command = 'cp " + timelineDir + "/%f %p'")
                        .config("hot_standby = on")
                        .build()) {
                    Files.writeString(backup.resolve("standby.signal"), "");
                    standby.start();
                    String expected = primary.psql("select count(*) from t");
                    String seen = "";
                    long until = System.nanoTime() + CATCH_UP.toNanos();
                    while (!expected.equals(seen) && System.nanoTime() < until) {
                        seen = standby.psql("select count(*) from t");
                    }
                    assertEquals(expected, seen, "the standby replayed the pushed WAL");
                }
            }
        } finally {
            Processes.run(Command.of("rm", "-rf", shared.toString()));
        }
    }
}
