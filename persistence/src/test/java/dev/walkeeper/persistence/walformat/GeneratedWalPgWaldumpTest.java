package dev.walkeeper.persistence.walformat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.WalPageHeaders;
import dev.walkeeper.protocol.wal.WalRecordScanner;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * pg_waldump reads what {@link WalGenerator} writes, record for record, up to the zeros after it —
 * also when the WAL starts mid-segment behind {@link WalPageHeaders#initialSegmentBytes}.
 */
class GeneratedWalPgWaldumpTest {
    private static final int SEG = 1 << 20;
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);

    private record Boundary(Lsn start, Lsn end) {
    }

    @Test
    void pgWaldumpReadsGeneratedWalAcrossSegments(@TempDir Path dir) throws IOException {
        Lsn start = new Lsn(SEG);
        WalGenerator generator = new WalGenerator(FORMAT, start, 0);
        ByteArrayOutputStream wal = new ByteArrayOutputStream();
        List<Lsn> ends = new ArrayList<>();
        int[] payloads = {0, 1, 255, 256, 8000, 8143, 20_000, 100, 3 * SEG / 2, 7, -1, 300, 9000, 0};
        for (int payload : payloads) {
            wal.writeBytes(payload < 0 ? generator.switchSegment() : generator.nextRecord(payload));
            ends.add(generator.position());
        }
        byte[] bytes = wal.toByteArray();
        int segments = (bytes.length + SEG - 1) / SEG;
        byte[] padded = Arrays.copyOf(bytes, segments * SEG);
        for (int i = 0; i < segments; i++) {
            Files.write(dir.resolve(XLogFileName.of(1, 1 + i, SEG)), Arrays.copyOfRange(padded, i * SEG, (i + 1) * SEG));
        }

        PgWaldump.Listing listing = PgWaldump.run(dir, XLogFileName.of(1, 1, SEG), XLogFileName.of(1, segments, SEG));
        assertEndsAtZeros(listing, generator.position());
        assertEquals(ends, listing.records().stream().map(r -> r.end(FORMAT)).toList());
        assertEquals(scan(start, padded), boundaries(listing));
    }

    /** Offsets in segment 0/100000 where the generated WAL begins, after the initial segment bytes. */
    @ParameterizedTest
    @ValueSource(ints = {40, 0x100, 0x1FF8, 0x2000, 0x2018, 0x5100, 0x7FFF8, SEG - 8192, SEG - 16})
    void pgWaldumpFindsWalStartingMidSegment(int offset, @TempDir Path dir) throws IOException {
        Lsn start = new Lsn(SEG + offset);
        WalGenerator generator = new WalGenerator(FORMAT, start, 0);
        ByteArrayOutputStream wal = new ByteArrayOutputStream();
        for (int payload : new int[] {0, 100, 9000, 30}) {
            wal.writeBytes(generator.nextRecord(payload));
        }
        byte[] segment = Arrays.copyOf(WalPageHeaders.initialSegmentBytes(FORMAT, start), 2 * SEG);
        byte[] bytes = wal.toByteArray();
        System.arraycopy(bytes, 0, segment, offset, bytes.length);
        Files.write(dir.resolve(XLogFileName.of(1, 1, SEG)), Arrays.copyOfRange(segment, 0, SEG));
        Files.write(dir.resolve(XLogFileName.of(1, 2, SEG)), Arrays.copyOfRange(segment, SEG, 2 * SEG));

        PgWaldump.Listing listing = PgWaldump.run(dir, XLogFileName.of(1, 1, SEG), XLogFileName.of(1, 2, SEG));
        assertEndsAtZeros(listing, generator.position());
        assertEquals(4, listing.records().size(), listing.records().toString());
        assertEquals(scan(start, Arrays.copyOfRange(segment, offset, segment.length)), boundaries(listing));
    }

    /** pg_waldump stops at the zero tail with its "invalid record length ... got 0", exactly at our end. */
    private static void assertEndsAtZeros(PgWaldump.Listing listing, Lsn end) {
        assertEquals(1, listing.exitCode(), listing.stderr());
        assertTrue(listing.stderr().contains("invalid record length at " + end + ": ")
                && listing.stderr().contains(" 24, got 0"), listing.stderr());
    }

    private static List<Boundary> boundaries(PgWaldump.Listing listing) {
        return listing.records().stream().map(r -> new Boundary(r.start(), r.end(FORMAT))).toList();
    }

    private static List<Boundary> scan(Lsn start, byte[] bytes) {
        List<Boundary> found = new ArrayList<>();
        WalRecordScanner scanner = new WalRecordScanner(FORMAT, start, (s, e) -> found.add(new Boundary(s, e)));
        scanner.feed(bytes);
        assertTrue(scanner.atEndOfWal());
        return found;
    }
}
