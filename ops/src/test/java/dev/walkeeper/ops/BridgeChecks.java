package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.ProcessTimeoutException;
import dev.walkeeper.testkit.Processes;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;

/**
 * Checks shared by the bridge tests: a primary whose only synchronous standby is the bridge
 * ({@link #NAME}) commits only once the quorum holds the WAL, and a node's WAL is the primary's.
 */
final class BridgeChecks {
    static final String NAME = "walkeeper_bridge";
    private static final int SEG = 16 * 1024 * 1024;
    /** How long a node outside the quorum may take to hold what the quorum holds. */
    private static final Duration NODE_LAG = Duration.ofSeconds(30);

    private BridgeChecks() {}

    /** The statement's commit returns within 30 s (it waits for the quorum's flush). */
    static void commit(PostgresServer pg, String sql) {
        long started = System.nanoTime();
        ProcessResult result = psql(pg, sql, Duration.ofSeconds(30));
        assertEquals(0, result.exitCode(), result.stderr());
        System.out.printf("committed in %d ms: %s%n", (System.nanoTime() - started) / 1_000_000, sql);
    }

    /** The statement's commit is still waiting for the synchronous standby after 3 s (psql is killed). */
    static void assertCommitWaits(PostgresServer pg, String sql) {
        assertThrows(ProcessTimeoutException.class, () -> psql(pg, sql, Duration.ofSeconds(3)));
        System.out.printf("still waiting after 3 s: %s%n", sql);
    }

    /** psql with a time limit (statement_timeout does not cover the synchronous commit wait). */
    static ProcessResult psql(PostgresServer pg, String sql, Duration limit) {
        return Processes.run(Command.of(pg.binaries().bin("psql").toString(), "-X", "-q", "-A", "-t",
                "-v", "ON_ERROR_STOP=1", "-d", pg.conninfo("postgres"), "-f", "-").stdin(sql).timeout(limit));
    }

    /** The flush position the bridge last reported to the primary (the quorum's commit LSN); 0/0 if none. */
    static Lsn quorumFlush(PostgresServer pg) {
        return Lsn.parse(pg.psql("select coalesce((select flush_lsn from pg_stat_replication"
                + " where application_name = '" + NAME + "'), '0/0')"));
    }

    /**
     * Where the node's WAL starts: the first record of its first segment, after the long page
     * header (the term start of a new timeline).
     */
    static Lsn firstRecord(Path timelineDir) throws IOException {
        try (var files = Files.list(timelineDir)) {
            long firstSegment = files.map(f -> f.getFileName().toString().replace(".partial", ""))
                    .filter(XLogFileName::isWalFileName)
                    .mapToLong(n -> XLogFileName.segNo(n, SEG))
                    .min().orElseThrow();
            return new Lsn(firstSegment * SEG + 0x28);
        }
    }

    /**
     * The node's WAL (in {@code timelineDir}) from its first record to {@code to} is the primary's
     * pg_wal over the same range. Compared a segment at a time (the range may be hundreds of MiB);
     * a node outside the quorum may still be catching up, so it gets {@link #NODE_LAG}.
     */
    static void assertStoresThePrimarysWal(PostgresServer pg, Path timelineDir, Lsn to) throws Exception {
        Lsn from = firstRecord(timelineDir);
        assertTrue(from.compareTo(to) < 0, from + " vs " + to);
        long deadline = System.nanoTime() + NODE_LAG.toNanos();
        for (long pos = from.value(); pos < to.value(); ) {
            long next = Math.min((pos / SEG + 1) * SEG, to.value());
            byte[] expected = WalPushTest.readWal(pg.dataDir().resolve("pg_wal"), new Lsn(pos), new Lsn(next));
            byte[] actual = readIfPresent(timelineDir, pos, next);
            while (!Arrays.equals(expected, actual) && System.nanoTime() < deadline) {
                Thread.sleep(100);
                actual = readIfPresent(timelineDir, pos, next);
            }
            assertArrayEquals(expected, actual, "WAL of " + timelineDir + " from " + new Lsn(pos) + " to "
                    + new Lsn(next) + " (checking " + from + " to " + to + ")");
            pos = next;
        }
        System.out.printf("%s: %d bytes [%s, %s) equal the primary's%n", timelineDir, to.value() - from.value(),
                from, to);
    }

    /** A lagging node may not have created the segment yet: null then. */
    private static byte[] readIfPresent(Path timelineDir, long from, long to) throws IOException {
        try {
            return WalPushTest.readWal(timelineDir, new Lsn(from), new Lsn(to));
        } catch (NoSuchFileException e) {
            return null;
        }
    }
}
