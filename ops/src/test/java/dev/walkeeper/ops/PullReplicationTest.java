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
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PgBinaries;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import dev.walkeeper.testkit.TestProposer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PostgreSQL's own pg_receivewal pulls WAL from a node with START_REPLICATION, follows new commits
 * live, and writes segments byte-identical to what the node stored, which pg_waldump reads.
 */
class PullReplicationTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final WalFormat FORMAT = new WalFormat(150018, 7_300_000_000_000_000_003L, SEG, 1);
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("99999999999999999999999999999999",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");

    @TempDir
    Path dataDir;

    @TempDir
    Path received;

    @Test
    void pgReceivewalStreamsCommittedWalLiveAndStoresItByteForByte() throws Exception {
        PgBinaries pg = PgBinaries.require();
        WalGenerator generator = new WalGenerator(FORMAT, START, 900);
        try (WalkeeperNode node = TestNodes.start(dataDir,
                "walkeeper.default-timeline = \"" + ID.tenantId() + "/" + ID.timelineId() + "\"");
             TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
            proposer.greet(FORMAT.pgVersion(), FORMAT.systemId(), SEG);
            assertTrue(proposer.vote(1).voteGiven());
            proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));
            Lsn end = push(proposer, generator, START, 6 * 1024 * 1024);

            // pg_receivewal starts at the segment of IDENTIFY_SYSTEM's xlogpos (our commit LSN) ...
            Lsn endpos;
            try (RunningProcess receivewal = Processes.start(Command.of(pg.bin("pg_receivewal").toString(),
                            "-d", "host=127.0.0.1 port=" + node.address().getPort() + " user=receiver",
                            "-D", received.toString(), "--no-loop", "--verbose", "--endpos", "0/2400000"),
                    received.resolveSibling(received.getFileName() + ".log"))) {
                receivewal.awaitLog("starting log streaming at 0/1000000", Duration.ofSeconds(30));
                // The node lists it among the timeline's consumers (once its START_REPLICATION ran:
                // the log line above comes just before it).
                ProcessResult consumers;
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                do {
                    consumers = Processes.run(Command.of(pg.bin("psql").toString(), "-X", "-A", "-t", "-d",
                            "host=127.0.0.1 port=" + node.address().getPort() + " user=ops replication=true",
                            "-c", "TIMELINE_CONSUMERS").timeout(Duration.ofSeconds(30)));
                    assertEquals(0, consumers.exitCode(), consumers.stderr());
                } while (consumers.stdout().isBlank() && System.nanoTime() < deadline);
                String[] row = consumers.stdout().trim().split("\\|");
                assertEquals("pull", row[0], consumers.stdout());
                assertTrue(row[2].startsWith("pg_receivewal 127.0.0.1:"), consumers.stdout());
                assertTrue(Lsn.parse(row[3]).compareTo(Lsn.parse("0/1000000")) >= 0, consumers.stdout());
                // ... and follows commits made while it streams, into the next segment.
                end = push(proposer, generator, end, 20 * 1024 * 1024);
                endpos = Lsn.parse("0/2400000");
                assertTrue(end.compareTo(endpos) > 0);
                assertEquals(0, receivewal.waitFor(Duration.ofSeconds(60)), receivewal.output());
            }

            Path stored = dataDir.resolve(ID.tenantId()).resolve(ID.timelineId());
            String first = XLogFileName.of(1, 1, SEG);
            assertArrayEquals(Files.readAllBytes(stored.resolve(first)), Files.readAllBytes(received.resolve(first)),
                    "the completed segment is byte-identical");
            byte[] partial = Files.readAllBytes(received.resolve(XLogFileName.of(1, 2, SEG) + ".partial"));
            int upToEndpos = (int) (endpos.value() - 2L * SEG);
            assertArrayEquals(java.util.Arrays.copyOf(WalPushTest.readWal(stored, new Lsn(2L * SEG), endpos), upToEndpos),
                    java.util.Arrays.copyOf(partial, upToEndpos), "the open segment up to endpos too");

            Path copy = Files.createDirectories(dataDir.resolve("waldump"));
            Files.copy(received.resolve(first), copy.resolve(first));
            Files.write(copy.resolve(XLogFileName.of(1, 2, SEG)), partial);
            ProcessResult waldump = Processes.run(Command.of(pg.bin("pg_waldump").toString(), "--path", copy.toString(),
                    "--start", START.toString(), "--end", "0/2000000", "--quiet").timeout(Duration.ofSeconds(60)));
            assertEquals(0, waldump.exitCode(), waldump.stderr());
        }
    }

    /** Pushes about {@code bytes} of WAL from {@code from}, committing it; returns the new end. */
    private static Lsn push(TestProposer proposer, WalGenerator generator, Lsn from, int bytes) throws Exception {
        Lsn at = from;
        while (at.value() - from.value() < bytes) {
            byte[] chunk = generator.nextRecords(120 * 1024);
            proposer.append(1, at, chunk, at);
            at = at.plus(chunk.length);
        }
        proposer.awaitFlush(at, Duration.ofSeconds(60));
        // An empty append publishes the new commit LSN.
        proposer.send(new ProposerMessage.AppendRequest(0, 1, at, at, at, Lsn.INVALID, ByteSlice.EMPTY));
        return at;
    }
}
