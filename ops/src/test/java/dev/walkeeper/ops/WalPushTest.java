package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
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
import dev.walkeeper.testkit.TestProposer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.security.MessageDigest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A proposer pushes 64 MiB of WAL over a socket; the node stores exactly those bytes, durably. */
class WalPushTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final long SYSTEM_ID = 7_300_000_000_000_000_001L;
    private static final WalFormat FORMAT = new WalFormat(150018, SYSTEM_ID, SEG, 1);
    /** The first record of a fresh cluster: right after segment 1's long page header. */
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("11111111111111111111111111111111",
            "22222222222222222222222222222222");

    @TempDir
    Path dataDir;

    @Test
    void pushed64MiBIsAcknowledgedStoredByteForByteAndReadableByPgWaldump() throws Exception {
        WalGenerator generator = new WalGenerator(FORMAT, START, 500);
        // Digests, not copies: 64 MiB held twice would crowd the test JVM's bounded heap.
        MessageDigest sent = MessageDigest.getInstance("SHA-256");
        Lsn end;
        try (WalkeeperNode node = TestNodes.start(dataDir, "");
             TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
            assertEquals(0, proposer.greet(FORMAT.pgVersion(), SYSTEM_ID, SEG).term());
            AcceptorMessage.VoteResponse vote = proposer.vote(1);
            assertTrue(vote.voteGiven());
            proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));

            Lsn at = START;
            while (at.value() - START.value() < 64L * 1024 * 1024) {
                byte[] chunk = generator.nextRecords(128 * 1024 - 1024);
                proposer.append(1, at, chunk, at);
                sent.update(chunk);
                at = at.plus(chunk.length);
            }
            end = at;
            AcceptorMessage.AppendResponse ack = proposer.awaitFlush(end, Duration.ofSeconds(120));
            assertEquals(end, ack.flushLsn());
            assertEquals(1, ack.term());
        }

        Path timelineDir = dataDir.resolve(ID.tenantId()).resolve(ID.timelineId());
        assertArrayEquals(sent.digest(), digestWal(timelineDir, START, end), "stored WAL equals the bytes sent");

        ProcessResult waldump = Processes.run(Command.of(PgBinaries.require().bin("pg_waldump").toString(),
                        "--path", withoutPartialSuffix(timelineDir).toString(), "--start", START.toString(), "--end", end.toString(),
                        "--quiet")
                .timeout(Duration.ofSeconds(120)));
        assertEquals(0, waldump.exitCode(), "pg_waldump: " + waldump.stderr());
    }

    /** pg_waldump reads only PostgreSQL's names: a copy with the open segment under its final name. */
    private Path withoutPartialSuffix(Path timelineDir) throws IOException {
        Path copy = Files.createDirectories(dataDir.resolve("waldump"));
        try (var files = Files.list(timelineDir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (XLogFileName.isWalFileName(name.replace(".partial", ""))) {
                    Files.copy(f, copy.resolve(name.replace(".partial", "")));
                }
            }
        }
        return copy;
    }

    /** SHA-256 of [from, to) in the segment files, read a segment at a time. */
    static byte[] digestWal(Path dir, Lsn from, Lsn to) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        for (long pos = from.value(); pos < to.value(); ) {
            long next = Math.min(to.value(), (pos / SEG + 1) * SEG);
            digest.update(readWal(dir, new Lsn(pos), new Lsn(next)));
            pos = next;
        }
        return digest.digest();
    }

    /** Reads [from, to) out of the segment files, whatever their suffix. */
    static byte[] readWal(Path dir, Lsn from, Lsn to) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long pos = from.value();
        while (pos < to.value()) {
            long segNo = pos / SEG;
            String name = XLogFileName.of(1, segNo, SEG);
            Path file = Files.exists(dir.resolve(name)) ? dir.resolve(name) : dir.resolve(name + ".partial");
            byte[] segment = Files.readAllBytes(file);
            int offset = (int) (pos % SEG);
            int length = (int) Math.min(SEG - offset, to.value() - pos);
            out.write(segment, offset, length);
            pos += length;
        }
        return out.toByteArray();
    }
}
