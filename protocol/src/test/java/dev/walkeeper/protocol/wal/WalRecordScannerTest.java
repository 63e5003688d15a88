package dev.walkeeper.protocol.wal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;
import dev.walkeeper.protocol.Gen;
import dev.walkeeper.protocol.Seeds;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class WalRecordScannerTest {
    private static final int SEG = 1 << 20;
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final Lsn FIRST_SEGMENT = new Lsn(16L * SEG);

    /** Generated WAL and where each of its records ends, as the generator placed them. */
    private record Wal(Lsn start, byte[] bytes, List<Lsn> recordEnds) {
        Lsn end() {
            return recordEnds.isEmpty() ? start : recordEnds.get(recordEnds.size() - 1);
        }
    }

    private static Wal generate(Lsn start, List<Integer> payloadSizes) {
        WalGenerator generator = new WalGenerator(FORMAT, start, 0);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<Lsn> ends = new ArrayList<>();
        for (int size : payloadSizes) {
            bytes.writeBytes(size < 0 ? generator.switchSegment() : generator.nextRecord(size));
            ends.add(generator.position());
        }
        return new Wal(start, bytes.toByteArray(), ends);
    }

    /** Feeds {@code bytes} in chunks of random sizes up to {@code maxChunk}, collecting record ends. */
    private static List<Lsn> scan(WalRecordScanner[] holder, Lsn start, byte[] bytes, int maxChunk, long seed) {
        List<Lsn> ends = new ArrayList<>();
        WalRecordScanner scanner = new WalRecordScanner(FORMAT, start, (s, e) -> ends.add(e));
        holder[0] = scanner;
        Random random = new Random(seed);
        for (int at = 0; at < bytes.length; ) {
            int n = Math.min(bytes.length - at, 1 + random.nextInt(maxChunk));
            scanner.feed(bytes, at, n);
            at += n;
        }
        return ends;
    }

    private static WalRecordScanner scanWhole(Lsn start, byte[] bytes) {
        WalRecordScanner scanner = new WalRecordScanner(FORMAT, start);
        scanner.feed(bytes);
        return scanner;
    }

    @Test
    void findsEveryRecordOfManySizes() {
        List<Integer> sizes = new ArrayList<>();
        for (int size : new int[] {0, 1, 2, 7, 8, 100, 255, 256, 257, 1000, 8000, 8143, 8144, 8168, 8192, 16384, 20000,
                3 * 8192, 100_000, 3 * SEG / 2, 5, 0}) {
            sizes.add(size);
        }
        Wal wal = generate(FIRST_SEGMENT, sizes);
        WalRecordScanner[] scanner = new WalRecordScanner[1];
        assertEquals(wal.recordEnds(), scan(scanner, wal.start(), wal.bytes(), 1 << 16, 1));
        assertEquals(wal.end(), scanner[0].lastRecordEnd());
        assertEquals(new Lsn(FIRST_SEGMENT.value() + wal.bytes().length), scanner[0].position());
        assertEquals(sizes.size(), scanner[0].recordCount());
        assertFalse(scanner[0].atEndOfWal());
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void boundariesDoNotDependOnChunking(long seed) {
        Seeds.check(seed, gen -> {
            Lsn start = start(gen);
            List<Integer> sizes = gen.list(1, 40, () -> payloadSize(gen));
            int maxChunk = gen.between(1, 20_000);
            Wal wal = generate(start, sizes);
            WalRecordScanner[] scanner = new WalRecordScanner[1];
            assertEquals(wal.recordEnds(), scan(scanner, start, wal.bytes(), maxChunk, gen.anyLong()));
            assertEquals(wal.end(), scanner[0].lastRecordEnd());
        });
    }

    static LongStream seeds() {
        return Seeds.of(300);
    }

    /** Segment and page starts, places just before page ends, and ordinary offsets. */
    private static Lsn start(Gen gen) {
        long segment = FIRST_SEGMENT.value();
        return new Lsn(gen.of(segment, segment + 40, segment + 8192 - 8, segment + 8192, segment + 8192 + 24,
                segment + 5 * 8192 + 4000, segment + SEG - 8192, segment + SEG - 16));
    }

    /** Mostly small and page-sized records, some spanning pages, rarely a segment; -1 is a segment switch. */
    private static int payloadSize(Gen gen) {
        int pick = gen.random().nextInt(80);
        if (pick < 40) {
            return gen.between(0, 300);
        } else if (pick < 70) {
            return gen.between(300, 9000);
        } else if (pick < 78) {
            return gen.between(9000, 40_000);
        } else if (pick < 79) {
            return gen.between(SEG, SEG + 20_000);
        }
        return -1;
    }

    @Test
    void byteAtATimeFindsTheSameBoundaries() {
        Wal wal = generate(new Lsn(FIRST_SEGMENT.value() + 8192 - 8), List.of(0, 30, 9000, 8000, 17, -1, 400));
        WalRecordScanner[] scanner = new WalRecordScanner[1];
        assertEquals(wal.recordEnds(), scan(scanner, wal.start(), wal.bytes(), 1, 0));
    }

    @Test
    void recordHeaderSplitAcrossPages() {
        // 8 bytes of the header on the first page, 16 after the next page header.
        Lsn start = new Lsn(FIRST_SEGMENT.value() + 8192 - 8);
        Wal wal = generate(start, List.of(100, 0));
        WalRecordScanner scanner = scanWhole(start, wal.bytes());
        // 126 bytes: 8 on the first page, then the page header, then 118 bytes, MAXALIGNed.
        assertEquals(new Lsn(FIRST_SEGMENT.value() + 8192 + 24 + 120), wal.recordEnds().get(0));
        assertEquals(wal.end(), scanner.lastRecordEnd());
        assertEquals(2, scanner.recordCount());
    }

    @Test
    void recordEndingOnAPageBoundaryEndsThere() {
        // From 0/1000028, a record of 8192 - 40 bytes fills the first page exactly.
        Wal wal = generate(new Lsn(FIRST_SEGMENT.value() + 40), List.of(8192 - 40 - 24 - 5, 10));
        assertEquals(new Lsn(FIRST_SEGMENT.value() + 8192), wal.recordEnds().get(0));
        WalRecordScanner scanner = new WalRecordScanner(FORMAT, wal.start());
        scanner.feed(wal.bytes(), 0, 8192 - 40);
        assertEquals(new Lsn(FIRST_SEGMENT.value() + 8192), scanner.lastRecordEnd());
        assertEquals(new Lsn(FIRST_SEGMENT.value() + 40), scanner.lastRecordStart());
        scanner.feed(wal.bytes(), 8192 - 40, wal.bytes().length - (8192 - 40));
        assertEquals(new Lsn(FIRST_SEGMENT.value() + 8192 + 24), scanner.lastRecordStart());
        assertEquals(wal.end(), scanner.lastRecordEnd());
    }

    @Test
    void switchRecordEndsAtTheNextSegment() {
        Wal wal = generate(FIRST_SEGMENT, List.of(100, -1, 100));
        Lsn nextSegment = new Lsn(FIRST_SEGMENT.value() + SEG);
        assertEquals(nextSegment, wal.recordEnds().get(1));
        // The padding is not examined: garbage there is fine (PostgreSQL zeroes it, page headers too).
        byte[] bytes = wal.bytes().clone();
        Arrays.fill(bytes, 1000, SEG, (byte) 0x5A);
        WalRecordScanner[] scanner = new WalRecordScanner[1];
        assertEquals(wal.recordEnds(), scan(scanner, wal.start(), bytes, 50_000, 3));
        assertEquals(new Lsn(nextSegment.value() + 40), scanner[0].lastRecordStart());
    }

    @Test
    void positionsBeforeAnyRecord() {
        Lsn start = new Lsn(FIRST_SEGMENT.value() + 8192);
        WalRecordScanner scanner = new WalRecordScanner(FORMAT, start);
        assertEquals(start, scanner.position());
        assertEquals(start, scanner.lastRecordEnd());
        assertEquals(Lsn.INVALID, scanner.lastRecordStart());
        scanner.feed(generate(start, List.of(50)).bytes(), 0, 30);
        assertEquals(new Lsn(start.value() + 30), scanner.position());
        assertEquals(start, scanner.lastRecordEnd());
        assertEquals(0, scanner.recordCount());
    }

    @Test
    void refusesStartsInsideHeadersOrUnaligned() {
        for (long offset : new long[] {8, 32, 8192 + 16, 8192 + 28, 44}) {
            assertThrows(IllegalArgumentException.class,
                    () -> new WalRecordScanner(FORMAT, new Lsn(FIRST_SEGMENT.value() + offset)));
        }
    }

    @Test
    void zerosAfterTheLastRecordAreTheEndOfWal() {
        Wal wal = generate(FIRST_SEGMENT, List.of(100, 9000, 3));
        byte[] segment = Arrays.copyOf(wal.bytes(), SEG);
        WalRecordScanner scanner = scanWhole(FIRST_SEGMENT, segment);
        assertTrue(scanner.atEndOfWal());
        assertEquals(wal.end(), scanner.lastRecordEnd());
        assertEquals(3, scanner.recordCount());
        assertEquals(new Lsn(FIRST_SEGMENT.value() + SEG), scanner.position());
        // More bytes are counted but not examined.
        scanner.feed(new byte[] {1, 2, 3});
        assertEquals(new Lsn(FIRST_SEGMENT.value() + SEG + 3), scanner.position());
        assertEquals(wal.end(), scanner.lastRecordEnd());
    }

    @Test
    void aZeroPageHeaderIsTheEndOfWalEvenInsideARecord() {
        // The last record ends on the page boundary: the next page was never written.
        Wal wal = generate(new Lsn(FIRST_SEGMENT.value() + 40), List.of(8192 - 40 - 24 - 5));
        WalRecordScanner atBoundary = scanWhole(wal.start(), Arrays.copyOf(wal.bytes(), 3 * 8192));
        assertTrue(atBoundary.atEndOfWal());
        assertEquals(wal.end(), atBoundary.lastRecordEnd());

        // A record torn after its first page: it is not a record.
        Wal torn = generate(FIRST_SEGMENT, List.of(100, 20_000));
        byte[] bytes = Arrays.copyOf(torn.bytes(), 2 * 8192);
        Arrays.fill(bytes, 8192, 2 * 8192, (byte) 0);
        WalRecordScanner scanner = scanWhole(FIRST_SEGMENT, bytes);
        assertTrue(scanner.atEndOfWal());
        assertEquals(torn.recordEnds().get(0), scanner.lastRecordEnd());
        assertEquals(1, scanner.recordCount());
    }

    @Test
    void aFlippedByteInARecordFailsItsChecksum() {
        Wal wal = generate(FIRST_SEGMENT, List.of(100, 300, 50));
        Lsn second = wal.recordEnds().get(0);
        int offset = (int) (second.value() - FIRST_SEGMENT.value()) + 24 + 100;
        byte[] bytes = wal.bytes().clone();
        bytes[offset] ^= 0x10;
        WalRecordScanner scanner = new WalRecordScanner(FORMAT, FIRST_SEGMENT);
        WalFormatException e = assertThrows(WalFormatException.class, () -> scanner.feed(bytes));
        assertEquals(second, e.lsn());
        assertTrue(e.getMessage().contains("checksum") && e.getMessage().contains(second.toString()), e.getMessage());
        assertEquals(wal.recordEnds().get(0), scanner.lastRecordEnd());
        // The scanner stays failed.
        assertSame(e, assertThrows(WalFormatException.class, () -> scanner.feed(new byte[1])));
    }

    @Test
    void aFlippedByteInARecordHeaderFailsTheChecksumToo() {
        Wal wal = generate(FIRST_SEGMENT, List.of(100));
        byte[] bytes = wal.bytes().clone();
        bytes[40 + 4] ^= 1; // xl_xid
        WalFormatException e = assertThrows(WalFormatException.class, () -> scanWhole(FIRST_SEGMENT, bytes));
        assertEquals(new Lsn(FIRST_SEGMENT.value() + 40), e.lsn());
    }

    @Test
    void aWrongPageAddressFails() {
        Wal wal = generate(FIRST_SEGMENT, List.of(100, 20_000));
        byte[] bytes = wal.bytes().clone();
        LittleEndian.putInt64(bytes, 8192 + 8, FIRST_SEGMENT.value() + 3 * 8192);
        WalFormatException e = assertThrows(WalFormatException.class, () -> scanWhole(FIRST_SEGMENT, bytes));
        assertEquals(new Lsn(FIRST_SEGMENT.value() + 8192), e.lsn());
        assertTrue(e.getMessage().contains("pageaddr"), e.getMessage());
    }

    @Test
    void aSegmentOfAnotherVersionClusterOrSizeFails() {
        byte[] bytes = generate(FIRST_SEGMENT, List.of(10)).bytes();
        assertFails(new WalFormat(160000, FORMAT.systemId(), SEG, 1), bytes, "magic");
        assertFails(new WalFormat(150018, 42, SEG, 1), bytes, "another database system");
        assertFails(new WalFormat(150018, FORMAT.systemId(), 2 * SEG, 1), bytes, "segment size");
        // An unknown system identifier is not checked.
        assertEquals(1, scanWith(new WalFormat(150018, 0, SEG, 1), bytes).recordCount());
    }

    @Test
    void timelinesMayNotExceedTheFormatsNorGoBack() {
        byte[] bytes = generate(FIRST_SEGMENT, List.of(10, 10_000)).bytes();
        WalFormat timeline3 = new WalFormat(150018, FORMAT.systemId(), SEG, 3);
        byte[] rising = withTimelines(bytes, 1, 3);
        assertFails(FORMAT, rising, "timeline");
        assertEquals(2, scanWith(timeline3, rising).recordCount());
        assertFails(timeline3, withTimelines(bytes, 2, 1), "timeline");
        assertFails(timeline3, withTimelines(bytes, 0, 1), "timeline");
    }

    private static byte[] withTimelines(byte[] bytes, int page0, int page1) {
        byte[] copy = bytes.clone();
        LittleEndian.putInt32(copy, 4, page0);
        LittleEndian.putInt32(copy, 8192 + 4, page1);
        return copy;
    }

    @Test
    void pageHeadersMustTellContinuationsRight() {
        Wal wal = generate(FIRST_SEGMENT, List.of(100, 20_000, 10));
        byte[] noFlag = wal.bytes().clone();
        LittleEndian.putInt16(noFlag, 8192 + 2, 0);
        assertFails(FORMAT, noFlag, "contrecord");
        byte[] wrongLength = wal.bytes().clone();
        LittleEndian.putInt32(wrongLength, 8192 + 16, LittleEndian.int32(wrongLength, 8192 + 16) - 8);
        assertFails(FORMAT, wrongLength, "contrecord length");
        byte[] unknownFlag = wal.bytes().clone();
        LittleEndian.putInt16(unknownFlag, 8192 + 2, 0x11);
        assertFails(FORMAT, unknownFlag, "info bits");
        byte[] longInside = wal.bytes().clone();
        LittleEndian.putInt16(longInside, 8192 + 2, 0x03);
        assertFails(FORMAT, longInside, "info bits");
        byte[] shortAtSegmentStart = wal.bytes().clone();
        LittleEndian.putInt16(shortAtSegmentStart, 2, 0);
        assertFails(FORMAT, shortAtSegmentStart, "info bits");

        // A page where a record starts must not claim to continue one.
        Wal boundary = generate(new Lsn(FIRST_SEGMENT.value() + 40), List.of(8192 - 40 - 24 - 5, 10));
        byte[] claims = boundary.bytes().clone();
        LittleEndian.putInt16(claims, 8192 - 40 + 2, WalPageHeaders.XLP_FIRST_IS_CONTRECORD);
        LittleEndian.putInt32(claims, 8192 - 40 + 16, 16);
        WalFormatException e = assertThrows(WalFormatException.class, () -> scanWhole(boundary.start(), claims));
        assertEquals(new Lsn(FIRST_SEGMENT.value() + 8192), e.lsn());
    }

    @Test
    void recordHeadersAreChecked() {
        Wal wal = generate(FIRST_SEGMENT, List.of(10, 10));
        int second = (int) (wal.recordEnds().get(0).value() - FIRST_SEGMENT.value());

        byte[] badPrev = wal.bytes().clone();
        LittleEndian.putInt64(badPrev, second + 8, FIRST_SEGMENT.value());
        assertFails(FORMAT, badPrev, "prev-link");

        byte[] firstPrevAhead = wal.bytes().clone();
        LittleEndian.putInt64(firstPrevAhead, 40 + 8, FIRST_SEGMENT.value() + 40);
        assertFails(FORMAT, firstPrevAhead, "prev-link");

        byte[] tooShort = wal.bytes().clone();
        LittleEndian.putInt32(tooShort, second, 23);
        assertFails(FORMAT, tooShort, "invalid record length");

        byte[] badRmgr = wal.bytes().clone();
        badRmgr[second + 17] = 22;
        assertFails(FORMAT, badRmgr, "resource manager");
    }

    /** A giant xl_tot_len is refused at once, and nothing is ever sized by it. */
    @Test
    void hugeLengthsAreRefusedOrStreamed() {
        byte[] header = generate(FIRST_SEGMENT, List.of(0)).bytes().clone();
        LittleEndian.putInt32(header, 40, -1);
        assertFails(FORMAT, header, "exceeds the maximum");

        // At the maximum the scanner waits for the bytes without allocating for them.
        byte[] max = generate(FIRST_SEGMENT, List.of(0)).bytes().clone();
        LittleEndian.putInt32(max, 40, WalRecordScanner.MAX_RECORD_SIZE);
        WalRecordScanner scanner = scanWhole(FIRST_SEGMENT, max);
        assertEquals(0, scanner.recordCount());
        assertFalse(scanner.atEndOfWal());
    }

    /**
     * After a crash PostgreSQL overwrites the lost rest of a record: the page that should continue it
     * is flagged and starts with a new record linked to the last complete one.
     */
    @Test
    void anOverwrittenContinuationDropsTheIncompleteRecord() {
        Wal wal = generate(FIRST_SEGMENT, List.of(100, 20_000));
        Lsn lastComplete = new Lsn(FIRST_SEGMENT.value() + 40);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.write(wal.bytes(), 0, 8192);
        long page = FIRST_SEGMENT.value() + 8192;
        bytes.writeBytes(WalPageHeaders.shortHeader(FORMAT, new Lsn(page),
                WalPageHeaders.XLP_FIRST_IS_OVERWRITE_CONTRECORD, 0));
        bytes.writeBytes(noopRecord(lastComplete.value()));
        WalRecordScanner scanner = scanWhole(FIRST_SEGMENT, bytes.toByteArray());
        assertEquals(2, scanner.recordCount());
        assertEquals(new Lsn(page + 24), scanner.lastRecordStart());
        assertEquals(new Lsn(page + 48), scanner.lastRecordEnd());
    }

    /** A 24-byte XLOG_NOOP record with {@code prev} as xl_prev. */
    private static byte[] noopRecord(long prev) {
        byte[] record = new byte[24];
        LittleEndian.putInt32(record, 0, 24);
        LittleEndian.putInt64(record, 8, prev);
        record[16] = WalFormat.XLOG_NOOP;
        CRC32C crc = new CRC32C();
        crc.update(record, 0, 20);
        LittleEndian.putInt32(record, 20, (int) crc.getValue());
        return record;
    }

    @Test
    void generatorChunksEndOnRecordBoundaries() {
        WalGenerator generator = new WalGenerator(FORMAT, FIRST_SEGMENT, 200);
        WalRecordScanner scanner = new WalRecordScanner(FORMAT, FIRST_SEGMENT);
        for (int i = 0; i < 50; i++) {
            byte[] chunk = generator.nextRecords(10_000);
            assertTrue(chunk.length >= 10_000);
            scanner.feed(chunk);
            assertEquals(generator.position(), scanner.lastRecordEnd());
            assertEquals(generator.position(), scanner.position());
        }
        assertThrows(IllegalArgumentException.class, () -> generator.nextRecord(-1));
    }

    private static void assertFails(WalFormat format, byte[] bytes, String problem) {
        WalFormatException e = assertThrows(WalFormatException.class, () -> scanWith(format, bytes));
        assertTrue(e.getMessage().contains(problem), e.getMessage());
    }

    private static WalRecordScanner scanWith(WalFormat format, byte[] bytes) {
        WalRecordScanner scanner = new WalRecordScanner(format, FIRST_SEGMENT);
        scanner.feed(bytes);
        return scanner;
    }
}
