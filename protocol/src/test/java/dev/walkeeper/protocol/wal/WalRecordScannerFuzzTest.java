package dev.walkeeper.protocol.wal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.walkeeper.protocol.Lsn;
import java.io.ByteArrayOutputStream;

/**
 * {@link WalRecordScanner} under arbitrary bytes: it accepts them or throws a {@link
 * WalFormatException}, never anything else, and never reports a record past what it was fed.
 */
class WalRecordScannerFuzzTest {
    private static final int SEG = 1 << 20;
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final Lsn START = new Lsn(16L * SEG);
    /** Valid WAL from a segment start over three pages: small records and ones crossing page boundaries. */
    private static final byte[] VALID = validWal();

    private static byte[] validWal() {
        WalGenerator generator = new WalGenerator(FORMAT, START, 0);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int[] payloads = {0, 10, 300, 5000, 0, 12000, 1, 255, 256};
        for (int payload : payloads) {
            bytes.writeBytes(generator.nextRecord(payload));
        }
        return bytes.toByteArray();
    }

    /** A prefix of valid WAL (possibly empty: pure garbage), then arbitrary bytes, all in arbitrary chunks. */
    @FuzzTest
    void garbageAfterValidWal(FuzzedDataProvider data) {
        int prefix = data.consumeInt(0, VALID.length);
        var scan = new Scan();
        scan.feedInChunks(VALID, 0, prefix, data);
        byte[] garbage = data.consumeRemainingAsBytes();
        scan.feedInChunks(garbage, 0, garbage.length, data);
        scan.check();
    }

    /** Valid WAL with a few bytes overwritten (page headers are not under a record's CRC). */
    @FuzzTest
    void mutatedValidWal(FuzzedDataProvider data) {
        byte[] wal = VALID.clone();
        int edits = data.consumeInt(1, 8);
        for (int i = 0; i < edits && data.remainingBytes() >= 5; i++) {
            wal[data.consumeInt(0, wal.length - 1)] = data.consumeByte();
        }
        var scan = new Scan();
        scan.feedInChunks(wal, 0, wal.length, data);
        scan.check();
    }

    /** One scanner fed in chunks, checking the contract after each feed. */
    private static final class Scan {
        private final WalRecordScanner scanner;
        private long fed;
        private long lastEnd = START.value();
        private WalFormatException failure;

        Scan() {
            scanner = new WalRecordScanner(FORMAT, START, (start, end) -> {
                assertTrue(start.value() >= lastEnd && end.value() > start.value(), start + ".." + end);
                lastEnd = end.value();
            });
        }

        /** Chunk sizes from the fuzz data while it lasts, then the rest at once. */
        void feedInChunks(byte[] bytes, int from, int to, FuzzedDataProvider data) {
            for (int at = from; at < to && failure == null; ) {
                int n = data.remainingBytes() > 0 ? Math.min(to - at, data.consumeInt(1, 9000)) : to - at;
                try {
                    scanner.feed(bytes, at, n);
                    fed += n;
                } catch (WalFormatException e) {
                    failure = e;
                }
                at += n;
            }
        }

        void check() {
            if (failure != null) {
                // Failed for good: every further feed repeats the same exception.
                try {
                    scanner.feed(new byte[1]);
                } catch (WalFormatException again) {
                    assertSame(failure, again);
                    return;
                }
                throw new AssertionError("feed succeeded after " + failure);
            }
            assertEquals(START.value() + fed, scanner.position().value());
            // A record end is MAXALIGNed, so it may lie up to 7 bytes of padding past the bytes fed;
            // only an XLOG_SWITCH record's lies further: at the next segment's start.
            long end = scanner.lastRecordEnd().value();
            assertTrue(end <= WalFormat.maxAlign(scanner.position().value()) || end % SEG == 0,
                    "record end " + scanner.lastRecordEnd() + " past " + scanner.position());
        }
    }
}
