package dev.walkeeper.persistence.wal;

import static dev.walkeeper.persistence.wal.WalTestFiles.SEG;
import static dev.walkeeper.persistence.wal.WalTestFiles.fileNames;
import static dev.walkeeper.persistence.wal.WalTestFiles.name;
import static dev.walkeeper.persistence.wal.WalTestFiles.partial;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalFormatException;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.WalPageHeaders;
import dev.walkeeper.protocol.wal.WalRecordScanner;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PgBinaries;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SegmentedWalStoreTest {
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    /** A record boundary in segment 1, mid-page on its third page: WAL starts mid-segment as after initdb. */
    private static final Lsn MID_SEGMENT_START = new Lsn(SEG + 2 * WalFormat.XLOG_BLCKSZ + 24 + 8 * 37);

    // ---- Writing, flushing, reopening --------------------------------------------------------------

    @Test
    void writesAcrossSegmentsInRandomChunksAndReopensToTheSameEndAndBytes(@TempDir Path dir) throws IOException {
        Random random = new Random(20261125);
        Wal wal = Wal.random(MID_SEGMENT_START, random, 4 * SEG + SEG / 2);
        Lsn firstPart = wal.lastEndBefore(new Lsn(4L * SEG + SEG / 2));
        Model model = new Model(MID_SEGMENT_START);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertTrue(store.isEmpty());
            store.initialize(MID_SEGMENT_START);
            assertFalse(store.isEmpty());
            assertEquals(MID_SEGMENT_START, store.writeLsn());
            assertEquals(MID_SEGMENT_START, store.writeRecordLsn());
            writeInRandomChunks(store, model, wal, MID_SEGMENT_START, firstPart, random, 150_000);
            store.flush();
            assertEquals(firstPart, store.writeLsn());
            assertEquals(firstPart, store.flushRecordLsn());
        }
        assertStored(dir, model);

        Lsn midWal = wal.ends.get(wal.recordsBefore(firstPart) / 3);
        for (Lsn scanFrom : List.of(Lsn.INVALID, midWal, MID_SEGMENT_START, firstPart)) {
            try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, scanFrom)) {
                assertPositions(store, firstPart, "reopened with scanFrom " + scanFrom);
            }
            assertStored(dir, model);
        }

        // Writing goes on after a reopen, into further segments.
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, midWal)) {
            writeInRandomChunks(store, model, wal, firstPart, wal.end(), random, 70_000);
            store.flush();
        }
        assertStored(dir, model);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertPositions(store, wal.end(), "reopened after more WAL");
        }
    }

    @Test
    void segmentBeingWrittenIsPartialAndCompletedSegmentsAreRenamed(@TempDir Path dir) throws IOException {
        Lsn start = new Lsn(SEG);
        Wal wal = Wal.random(start, new Random(1), 2 * SEG + 5000);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(start);
            assertEquals(Set.of(partial(1)), fileNames(dir), "created, preallocated, by initialize");
            assertEquals(SEG, Files.size(dir.resolve(partial(1))));

            store.write(start, ByteSlice.of(Arrays.copyOfRange(wal.bytes, 0, 1000)));
            assertEquals(Set.of(partial(1)), fileNames(dir));

            // Up to exactly the segment's end (mid-record is fine): filled, but renamed only once synced.
            store.write(store.writeLsn(), ByteSlice.of(Arrays.copyOfRange(wal.bytes, 1000, SEG)));
            assertEquals(new Lsn(2L * SEG), store.writeLsn());
            assertEquals(Set.of(partial(1)), fileNames(dir));

            // The flush syncs and renames it, and makes the next segment ahead, full size.
            store.flush();
            assertEquals(Set.of(name(1), partial(2)), fileNames(dir));
            assertEquals(SEG, Files.size(dir.resolve(partial(2))));

            // The next byte goes into that spare.
            store.write(store.writeLsn(), ByteSlice.of(wal.bytes, SEG, 1));
            assertEquals(Set.of(name(1), partial(2)), fileNames(dir));

            // Across a boundary in one write, without a spare: the next segment is created then.
            store.write(store.writeLsn(), ByteSlice.of(Arrays.copyOfRange(wal.bytes, SEG + 1, wal.bytes.length)));
            assertEquals(Set.of(name(1), partial(2), partial(3)), fileNames(dir));
            store.flush();
            assertEquals(Set.of(name(1), name(2), partial(3)), fileNames(dir));
            for (String file : fileNames(dir)) {
                assertEquals(SEG, Files.size(dir.resolve(file)), file);
            }
            assertTrue(Files.list(dir).noneMatch(p -> p.toString().endsWith(".tmp")));
        }
    }

    @Test
    void flushRecordLsnNeverPassesWriteRecordLsnAndOnlyAdvancesOnFlush(@TempDir Path dir) throws IOException {
        Lsn start = MID_SEGMENT_START;
        WalGenerator generator = new WalGenerator(FORMAT, start, 0);
        byte[] first = generator.nextRecord(1000);
        Lsn firstEnd = generator.position();
        byte[] second = generator.nextRecord(1); // 27 bytes and 5 bytes of alignment padding
        Lsn secondEnd = generator.position();
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(start);
            assertEquals(Lsn.INVALID, store.flushRecordLsn(), "nothing flushed yet");
            store.flush();
            assertEquals(start, store.flushRecordLsn());

            store.write(start, ByteSlice.of(Arrays.copyOf(first, 600)));
            assertEquals(start.plus(600), store.writeLsn());
            assertEquals(start, store.writeRecordLsn(), "half a record is not a record");
            store.write(store.writeLsn(), ByteSlice.of(Arrays.copyOfRange(first, 600, first.length)));
            assertEquals(firstEnd, store.writeRecordLsn());
            assertEquals(start, store.flushRecordLsn(), "not flushed yet");

            // A record is counted once its alignment padding is written too, never beyond write_lsn.
            store.write(firstEnd, ByteSlice.of(Arrays.copyOf(second, second.length - 3)));
            assertEquals(firstEnd, store.writeRecordLsn());
            store.flush();
            assertEquals(firstEnd, store.flushRecordLsn());
            store.write(store.writeLsn(), ByteSlice.of(Arrays.copyOfRange(second, second.length - 3, second.length)));
            assertEquals(secondEnd, store.writeRecordLsn());
            assertEquals(firstEnd, store.flushRecordLsn());
            store.flush();
            assertEquals(secondEnd, store.flushRecordLsn());
        }
    }

    @Test
    void writeAtAnotherLsnIsRefusedNamingBoth(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(MID_SEGMENT_START, new Random(2), 20_000);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            IllegalStateException notInitialised = assertThrows(IllegalStateException.class,
                    () -> store.write(MID_SEGMENT_START, ByteSlice.of(wal.bytes)));
            assertTrue(notInitialised.getMessage().contains(MID_SEGMENT_START.toString()), notInitialised.getMessage());

            store.initialize(MID_SEGMENT_START);
            assertThrows(IllegalStateException.class, () -> store.initialize(MID_SEGMENT_START));
            store.write(MID_SEGMENT_START, ByteSlice.of(Arrays.copyOf(wal.bytes, 10_000)));
            Lsn writeLsn = store.writeLsn();
            for (Lsn wrong : List.of(writeLsn.plus(8), writeLsn.plus(-8), MID_SEGMENT_START)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> store.write(wrong, ByteSlice.of(Arrays.copyOfRange(wal.bytes, 10_000, 11_000))));
                assertTrue(e.getMessage().contains(wrong.toString()) && e.getMessage().contains(writeLsn.toString()),
                        e.getMessage());
            }
            assertEquals(writeLsn, store.writeLsn());
            store.write(writeLsn, ByteSlice.of(Arrays.copyOfRange(wal.bytes, 10_000, wal.bytes.length)));
            assertEquals(wal.end(), store.writeRecordLsn());
        }
    }

    @Test
    void invalidWalWritesNothingAndBlocksWritesUntilTruncate(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(MID_SEGMENT_START, new Random(3), 60_000);
        Model model = new Model(MID_SEGMENT_START);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(MID_SEGMENT_START);
            int half = (int) (wal.ends.get(wal.ends.size() / 2).value() - MID_SEGMENT_START.value());
            write(store, model, Arrays.copyOf(wal.bytes, half));
            store.flush();
            Lsn end = store.writeLsn();

            // Valid records first, then one with a broken CRC: nothing of it is written.
            byte[] rest = Arrays.copyOfRange(wal.bytes, half, wal.bytes.length);
            int lastStart = (int) (wal.starts.get(wal.starts.size() - 1).value() - end.value());
            rest[lastStart + 20] ^= 0x40; // xl_crc
            assertThrows(WalFormatException.class, () -> store.write(end, ByteSlice.of(rest)));
            assertPositions(store, end, "after a rejected write");
            assertStored(dir, model);

            IllegalStateException refused = assertThrows(IllegalStateException.class,
                    () -> store.write(end, ByteSlice.of(wal.bytes, half, 100)));
            assertTrue(refused.getCause() instanceof WalFormatException, refused.toString());

            store.truncate(end);
            write(store, model, Arrays.copyOfRange(wal.bytes, half, wal.bytes.length));
            assertEquals(wal.end(), store.writeRecordLsn());
            store.flush();
        }
        assertStored(dir, model);
    }

    // ---- Truncation --------------------------------------------------------------------------------

    @Test
    void truncateInsideTheLastSegmentZeroesTheRestAndWritingContinues(@TempDir Path dir) throws IOException {
        Random random = new Random(4);
        Wal wal = Wal.random(MID_SEGMENT_START, random, 2 * SEG + SEG / 2);
        Model model = new Model(MID_SEGMENT_START);
        Lsn cut = wal.lastEndBefore(new Lsn(3L * SEG + SEG / 4));
        Wal other = wal.diverging(wal.recordsBefore(cut), Wal.randomPayloads(random, SEG / 2)); // another term's
        assertEquals(3, cut.segmentNumber(SEG));
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(MID_SEGMENT_START);
            write(store, model, wal.bytes);
            store.truncate(cut);
            model.truncate(cut);
            assertPositions(store, cut, "after truncate");
            assertStored(dir, model);

            write(store, model, other.range(cut, other.end())); // crossing into segment 4
            assertEquals(other.end(), store.writeRecordLsn());
            store.flush();
        }
        assertStored(dir, model);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertPositions(store, model.writeLsn(), "reopened");
        }
    }

    @Test
    void truncateAcrossSegmentsDeletesLaterOnesAndReopensTheCompletedOne(@TempDir Path dir) throws IOException {
        Random random = new Random(5);
        Wal wal = Wal.random(MID_SEGMENT_START, random, 3 * SEG + SEG / 2);
        Model model = new Model(MID_SEGMENT_START);
        Lsn cut = wal.lastEndBefore(new Lsn(2L * SEG + SEG / 2));
        Wal other = wal.diverging(wal.recordsBefore(cut), Wal.randomPayloads(random, SEG));
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(MID_SEGMENT_START);
            write(store, model, wal.bytes);
            store.flush();
            assertEquals(withSpare(store, name(1), name(2), name(3), partial(4)), fileNames(dir));

            store.truncate(cut);
            model.truncate(cut);
            assertEquals(Set.of(name(1), partial(2)), fileNames(dir));
            assertPositions(store, cut, "after truncate");
            assertStored(dir, model);

            write(store, model, other.range(cut, other.end()));
            store.flush();
            assertEquals(withSpare(store, name(1), name(2), partial(3)), fileNames(dir));
        }
        assertStored(dir, model);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, cut)) {
            assertPositions(store, model.writeLsn(), "reopened");
        }
    }

    @Test
    void truncateToASegmentBoundaryKeepsTheCompletedSegment(@TempDir Path dir) throws IOException {
        Lsn start = new Lsn(SEG);
        WalGenerator generator = new WalGenerator(FORMAT, start, 0);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes(generator.nextRecords(300_000));
        bytes.writeBytes(generator.switchSegment()); // XLOG_SWITCH: its record ends at the next segment
        Lsn boundary = generator.position();
        assertEquals(new Lsn(2L * SEG), boundary);
        bytes.writeBytes(generator.nextRecords(SEG + 4000));
        Model model = new Model(start);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(start);
            write(store, model, bytes.toByteArray());
            assertEquals(Set.of(partial(1), partial(2), partial(3)), fileNames(dir), "filled, not yet synced");
            store.truncate(boundary);
            model.truncate(boundary);
            assertEquals(Set.of(name(1)), fileNames(dir));
            assertPositions(store, boundary, "after truncate");

            write(store, model, Wal.random(boundary, new Random(6), 5000).bytes);
            store.flush();
            assertEquals(withSpare(store, name(1), partial(2)), fileNames(dir));
        }
        assertStored(dir, model);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertPositions(store, model.writeLsn(), "reopened");
            store.truncate(boundary);
            assertEquals(Set.of(name(1)), fileNames(dir));
        }
        // Ending exactly at a segment's end: the complete segment is the last one holding WAL.
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertPositions(store, boundary, "reopened at the boundary");
        }
    }

    @Test
    void truncateBeyondWriteRecordLsnIsRefusedNamingBoth(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(MID_SEGMENT_START, new Random(7), 30_000);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertThrows(IllegalStateException.class, () -> store.truncate(MID_SEGMENT_START));
            store.initialize(MID_SEGMENT_START);
            store.write(MID_SEGMENT_START, ByteSlice.of(Arrays.copyOf(wal.bytes, wal.bytes.length - 10)));
            Lsn recordEnd = store.writeRecordLsn();
            Lsn beyond = wal.end();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> store.truncate(beyond));
            assertTrue(e.getMessage().contains(beyond.toString()) && e.getMessage().contains(recordEnd.toString()),
                    e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> store.truncate(recordEnd.plus(-3)));
            store.truncate(recordEnd);
            assertPositions(store, recordEnd, "after truncate");
        }
    }

    // ---- Finding the end of WAL after a crash ----------------------------------------------------------

    @Test
    void emptyDirectoryAndHeadersWithoutRecordsOpenEmpty(@TempDir Path dir) throws IOException {
        Path timeline = dir.resolve("tenant/timeline");
        try (SegmentedWalStore store = SegmentedWalStore.open(timeline, FORMAT, Lsn.INVALID)) {
            assertTrue(store.isEmpty());
            assertEquals(Lsn.INVALID, store.writeLsn());
            assertEquals(Lsn.INVALID, store.writeRecordLsn());
            assertEquals(Lsn.INVALID, store.flushRecordLsn());
            store.initialize(MID_SEGMENT_START);
            store.flush();
        }
        // Headers without one complete record hold no WAL: such a store reopens empty (the
        // acceptor's journaled timeline start still says where its WAL begins).
        for (Lsn scanFrom : List.of(MID_SEGMENT_START, Lsn.INVALID)) {
            try (SegmentedWalStore store = SegmentedWalStore.open(timeline, FORMAT, scanFrom)) {
                assertTrue(store.isEmpty(), "headers only, scanFrom " + scanFrom);
                assertEquals(Lsn.INVALID, store.flushRecordLsn());
            }
        }
        assertEquals(Set.of(), fileNames(timeline));

        // At a segment start there are no headers to write: a segment never written holds no WAL.
        Path other = dir.resolve("other");
        try (SegmentedWalStore store = SegmentedWalStore.open(other, FORMAT, Lsn.INVALID)) {
            store.initialize(new Lsn(SEG));
            store.flush();
        }
        try (SegmentedWalStore store = SegmentedWalStore.open(other, FORMAT, new Lsn(SEG))) {
            assertTrue(store.isEmpty());
            assertEquals(Set.of(), fileNames(other));
        }
    }

    @Test
    void garbageAfterTheLastRecordIsCutOff(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(MID_SEGMENT_START, new Random(8), SEG + SEG / 3);
        Model model = writeAndClose(dir, wal);
        byte[] garbage = new byte[5000];
        new Random(9).nextBytes(garbage);
        patch(dir, wal.end(), garbage);

        for (Lsn scanFrom : List.of(Lsn.INVALID, wal.ends.get(wal.ends.size() - 20))) {
            try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, scanFrom)) {
                assertPositions(store, wal.end(), "garbage after the end, scanFrom " + scanFrom);
            }
            assertStored(dir, model); // the garbage was zeroed
        }
    }

    @Test
    void halfWrittenRecordIsCutOffAndOverwritten(@TempDir Path dir) throws IOException {
        Random random = new Random(10);
        Wal base = Wal.random(MID_SEGMENT_START, random, SEG / 2);
        Wal full = base.diverging(base.payloads.size(), List.of(40_000));
        int complete = full.ends.size() - 1;
        Lsn end = full.ends.get(complete - 1);
        Model model = writeAndClose(dir, full.diverging(complete, List.of()));
        byte[] last = full.range(end, full.end());
        patch(dir, end, Arrays.copyOf(last, last.length / 2 + 3)); // written, but not flushed when we crashed

        for (Lsn scanFrom : List.of(Lsn.INVALID, full.ends.get(complete / 2))) {
            try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, scanFrom)) {
                assertPositions(store, end, "half a record after the end, scanFrom " + scanFrom);
            }
            assertStored(dir, model);
        }
        Wal other = full.diverging(complete, Wal.randomPayloads(random, 30_000));
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            write(store, model, other.range(end, other.end()));
            store.flush();
        }
        assertStored(dir, model);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertPositions(store, other.end(), "reopened");
        }
    }

    @Test
    void flippedByteInTheLastRecordEndsWalAtThePreviousRecord(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(MID_SEGMENT_START, new Random(13), SEG / 2 + 1000);
        Model model = writeAndClose(dir, wal);
        Lsn lastStart = wal.starts.get(wal.starts.size() - 1);
        Lsn previousEnd = wal.ends.get(wal.ends.size() - 2);
        Lsn flip = new Lsn((lastStart.value() + wal.end().value()) / 2);
        if (flip.value() % WalFormat.XLOG_BLCKSZ < WalFormat.SIZE_OF_XLOG_LONG_PHD) {
            flip = flip.plus(WalFormat.SIZE_OF_XLOG_LONG_PHD); // not into a page header's padding
        }
        byte[] original = read(dir, flip, 1);
        patch(dir, flip, new byte[] {(byte) (original[0] ^ 0x10)});

        for (Lsn scanFrom : List.of(Lsn.INVALID, wal.ends.get(wal.ends.size() - 10))) {
            try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, scanFrom)) {
                assertPositions(store, previousEnd, "a flipped byte in the last record, scanFrom " + scanFrom);
            }
        }
        model.truncate(previousEnd);
        assertStored(dir, model);
    }

    @Test
    void recordTornAcrossASegmentBoundaryFallsBackToThePreviousSegment(@TempDir Path dir) throws IOException {
        Lsn start = new Lsn(SEG);
        WalGenerator generator = new WalGenerator(FORMAT, start, 0);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes(generator.nextRecords(SEG - 100_000));
        Lsn beforeBig = generator.position();
        bytes.writeBytes(generator.nextRecord(300_000)); // crosses into segment 2 for some 200 KB
        Model model = new Model(start);
        byte[] torn = Arrays.copyOf(bytes.toByteArray(), bytes.size() - 150_000);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(start);
            write(store, model, torn); // the record's tail in segment 2 is cut short
            assertEquals(beforeBig, store.writeRecordLsn());
            store.flush();
        }
        assertEquals(Set.of(name(1), partial(2)), fileNames(dir));

        // Segment 2 holds only the head of the record's tail: decoding starts in segment 1.
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertPositions(store, beforeBig, "torn tail in the last segment");
        }
        model.truncate(beforeBig);
        assertEquals(Set.of(partial(1)), fileNames(dir));
        assertStored(dir, model);
    }

    @Test
    void tornTailBeforeTheFirstRecordOfTheLastSegmentIsNotTrusted(@TempDir Path dir) throws IOException {
        Lsn start = new Lsn(SEG);
        WalGenerator generator = new WalGenerator(FORMAT, start, 0);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        bytes.writeBytes(generator.nextRecords(SEG - 20_000));
        Lsn beforeCrossing = generator.position();
        bytes.writeBytes(generator.nextRecord(30_000)); // ends some 10 KB into segment 2
        Lsn crossingEnd = generator.position();
        assertEquals(2, crossingEnd.segmentNumber(SEG));
        Model model = new Model(start);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(start);
            write(store, model, bytes.toByteArray());
            store.flush();
        }
        // The tail's page headers survived, a block of its data did not: nothing follows the tail,
        // so its end is unproven and decoding starts in segment 1, where the CRC exposes it.
        patch(dir, new Lsn(2L * SEG + WalFormat.XLOG_BLCKSZ + 100), new byte[200]);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertPositions(store, beforeCrossing, "torn tail");
        }
        model.truncate(beforeCrossing);
        assertStored(dir, model);
    }

    @Test
    void openingReadsOnlyTheLastSegments(@TempDir Path dir) throws IOException {
        Lsn start = new Lsn(SEG);
        Wal wal = Wal.random(start, new Random(14), 6 * SEG + SEG / 3);
        Model model = writeAndClose(dir, wal);
        assertEquals(7, fileNames(dir).size());
        assertTrue(wal.starts.get(0).segmentNumber(SEG) == 1 && wal.end().segmentNumber(SEG) == 7);

        // Segments 1 to 6 become garbage: reading any of them would end the WAL early or fail.
        byte[] garbage = new byte[SEG];
        Arrays.fill(garbage, (byte) 0xA5);
        for (int segNo = 1; segNo <= 6; segNo++) {
            Files.write(dir.resolve(name(segNo)), garbage);
        }
        for (Lsn scanFrom : List.of(Lsn.INVALID, new Lsn(5L * SEG + 40) /* gone: garbage there */)) {
            try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, scanFrom)) {
                assertPositions(store, wal.end(), "only segment 7 intact, scanFrom " + scanFrom);
            }
        }
        for (int segNo = 1; segNo <= 6; segNo++) {
            assertArrayEquals(garbage, Files.readAllBytes(dir.resolve(name(segNo))), "segment " + segNo + " untouched");
        }
        assertArrayEquals(model.segment(7), Files.readAllBytes(dir.resolve(partial(7))));
    }

    @Test
    void leftoverTemporaryAndNeverWrittenSegmentsAreRemoved(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(MID_SEGMENT_START, new Random(15), SEG / 2);
        Model model = writeAndClose(dir, wal);
        // A crash while creating the next segments: one left under its temporary name, one in place.
        Files.write(dir.resolve(name(2) + ".tmp"), new byte[100]);
        try (RandomAccessFile file = new RandomAccessFile(dir.resolve(partial(3)).toFile(), "rw")) {
            file.setLength(SEG);
        }
        Files.writeString(dir.resolve("unrelated.txt"), "kept");
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertPositions(store, wal.end(), "with leftovers");
        }
        assertEquals(Set.of(partial(1), "unrelated.txt"), fileNames(dir));
        Files.delete(dir.resolve("unrelated.txt"));
        assertStored(dir, model);
    }

    // ---- pg_waldump --------------------------------------------------------------------------------

    private static final Pattern WALDUMP_RECORD = Pattern.compile("^rmgr: .* lsn: ([0-9A-F]+/[0-9A-F]+), prev ");

    @Test
    void pgWaldumpReadsSixteenMebibyteSegmentsWrittenFromMidSegment(@TempDir Path dir, @TempDir Path copy)
            throws IOException {
        int seg = 16 << 20;
        WalFormat format = new WalFormat(150018, 7000000000000000001L, seg, 1);
        Lsn start = new Lsn(seg + 5L * WalFormat.XLOG_BLCKSZ + 24 + 8 * 300);
        Random random = new Random(16);
        Wal wal = Wal.generate(format, start, Wal.randomPayloads(random, seg + seg / 4));
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, format, Lsn.INVALID)) {
            store.initialize(start);
            for (int done = 0; done < wal.bytes.length; ) {
                int n = Math.min(wal.bytes.length - done, 1 + random.nextInt(1 << 20));
                store.write(store.writeLsn(), ByteSlice.of(wal.bytes, done, n));
                done += n;
            }
            store.flush();
        }
        String first = XLogFileName.of(1, 1, seg);
        String last = XLogFileName.of(1, 2, seg);
        assertEquals(Set.of(first, last + ".partial"), fileNames(dir));
        // pg_waldump reads segments by their PostgreSQL names, as pg_receivewal users rename .partial.
        for (String file : fileNames(dir)) {
            assertEquals(seg, Files.size(dir.resolve(file)), "preallocated " + file);
            Files.copy(dir.resolve(file), copy.resolve(file.replace(".partial", "")));
        }

        ProcessResult result = Processes.run(Command.of(PgBinaries.require().bin("pg_waldump").toString(),
                "-p", copy.toString(), first, last).timeout(Duration.ofSeconds(60)));
        List<Lsn> listed = new ArrayList<>();
        for (String line : result.stdout().split("\n")) {
            Matcher m = WALDUMP_RECORD.matcher(line);
            assertTrue(line.isEmpty() || m.find(), "unexpected pg_waldump line: " + line);
            if (!line.isEmpty()) {
                listed.add(Lsn.parse(m.group(1)));
            }
        }
        assertEquals(wal.starts, listed);
        // The only complaint is the end of WAL: zeros where the next record would begin.
        assertEquals(1, result.exitCode(), result.stderr());
        String[] errors = result.stderr().strip().split("\n");
        assertEquals(1, errors.length, result.stderr());
        assertTrue(errors[0].contains("invalid record length at " + wal.end() + ": wanted 24, got 0"), errors[0]);
    }

    // ---- Helpers -----------------------------------------------------------------------------------

    /**
     * Generated WAL from a start: the records' payload sizes, the bytes, and the records' starts and
     * ends as the scanner finds them. The same payloads regenerate the same bytes, so WAL that
     * diverges after some record (another term's) is the same payloads up to there, then others:
     * its {@code xl_prev} chain is right across the divergence point.
     */
    private record Wal(WalFormat format, Lsn start, List<Integer> payloads, byte[] bytes, List<Lsn> starts,
            List<Lsn> ends) {
        static Wal random(Lsn start, Random random, int approxBytes) {
            return generate(FORMAT, start, randomPayloads(random, approxBytes));
        }

        /** Sizes of records, mostly small, some spanning pages, a few spanning 100 KB or more. */
        static List<Integer> randomPayloads(Random random, int approxBytes) {
            List<Integer> payloads = new ArrayList<>();
            for (long total = 0; total < approxBytes; ) {
                int kind = random.nextInt(100);
                int payload = kind < 70 ? random.nextInt(300) : kind < 97 ? random.nextInt(20_000)
                        : random.nextInt(200_000);
                payloads.add(payload);
                total += payload + 32 + payload / 300;
            }
            return payloads;
        }

        static Wal generate(WalFormat format, Lsn start, List<Integer> payloads) {
            WalGenerator generator = new WalGenerator(format, start, 0);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (int payload : payloads) {
                bytes.writeBytes(generator.nextRecord(payload));
            }
            List<Lsn> starts = new ArrayList<>();
            List<Lsn> ends = new ArrayList<>();
            WalRecordScanner scanner = new WalRecordScanner(format, start, (s, e) -> {
                starts.add(s);
                ends.add(e);
            });
            scanner.feed(bytes.toByteArray());
            assertEquals(payloads.size(), ends.size());
            return new Wal(format, start, List.copyOf(payloads), bytes.toByteArray(), starts, ends);
        }

        /** The same first {@code keep} records, then records of {@code more} payloads. */
        Wal diverging(int keep, List<Integer> more) {
            List<Integer> all = new ArrayList<>(payloads.subList(0, keep));
            all.addAll(more);
            return generate(format, start, all);
        }

        Lsn end() {
            return start.plus(bytes.length);
        }

        /** The bytes from {@code from} to {@code to}. */
        byte[] range(Lsn from, Lsn to) {
            return Arrays.copyOfRange(bytes, offset(from), offset(to));
        }

        int offset(Lsn lsn) {
            return (int) (lsn.value() - start.value());
        }

        /** The last record end at or before {@code lsn}; the start if none. */
        Lsn lastEndBefore(Lsn lsn) {
            Lsn found = start;
            for (Lsn end : ends) {
                if (end.compareTo(lsn) <= 0) {
                    found = end;
                }
            }
            return found;
        }

        /** How many records end at or before {@code lsn}. */
        int recordsBefore(Lsn lsn) {
            int n = 0;
            while (n < ends.size() && ends.get(n).compareTo(lsn) <= 0) {
                n++;
            }
            return n;
        }
    }

    /** What the segment files must hold: the initial headers, the WAL written, zeros after it. */
    private static final class Model {
        private final long base;
        private byte[] bytes = new byte[0];
        private long writeLsn;

        Model(Lsn start) {
            base = start.value() - start.segmentOffset(SEG);
            put(base, WalPageHeaders.initialSegmentBytes(FORMAT, start));
            writeLsn = start.value();
        }

        void write(byte[] data) {
            put(writeLsn, data);
            writeLsn += data.length;
        }

        void truncate(Lsn end) {
            int from = (int) (end.value() - base);
            if (from < bytes.length) {
                Arrays.fill(bytes, from, bytes.length, (byte) 0);
            }
            writeLsn = end.value();
        }

        Lsn writeLsn() {
            return new Lsn(writeLsn);
        }

        long firstSegment() {
            return base / SEG;
        }

        byte[] segment(long segNo) {
            byte[] segment = new byte[SEG];
            int from = (int) (segNo * SEG - base);
            if (from < bytes.length) {
                System.arraycopy(bytes, from, segment, 0, Math.min(SEG, bytes.length - from));
            }
            return segment;
        }

        private void put(long lsn, byte[] data) {
            int at = (int) (lsn - base);
            if (at + data.length > bytes.length) {
                bytes = Arrays.copyOf(bytes, Math.max(at + data.length, 2 * bytes.length));
            }
            System.arraycopy(data, 0, bytes, at, data.length);
        }
    }

    /** Writes {@code wal} in chunks of random sizes, checking the positions after each write and flush. */
    private static void writeInRandomChunks(SegmentedWalStore store, Model model, Wal wal, Lsn fromLsn, Lsn toLsn,
            Random random, int maxChunk) throws IOException {
        Lsn flushed = store.flushRecordLsn();
        int to = wal.offset(toLsn);
        for (int done = wal.offset(fromLsn); done < to; ) {
            int n = Math.min(to - done, random.nextInt(10) == 0 ? 1 + random.nextInt(16)
                    : 1 + random.nextInt(maxChunk));
            write(store, model, Arrays.copyOfRange(wal.bytes, done, done + n));
            done += n;
            assertEquals(wal.start.plus(done), store.writeLsn());
            assertEquals(wal.lastEndBefore(store.writeLsn()), store.writeRecordLsn(), "at " + store.writeLsn());
            assertEquals(flushed, store.flushRecordLsn(), "flush_record_lsn moved without a flush");
            if (random.nextInt(5) == 0) {
                store.flush();
                flushed = store.writeRecordLsn();
                assertEquals(flushed, store.flushRecordLsn());
            }
            assertTrue(store.flushRecordLsn().compareTo(store.writeRecordLsn()) <= 0);
            assertTrue(store.writeRecordLsn().compareTo(store.writeLsn()) <= 0);
        }
    }

    private static void write(SegmentedWalStore store, Model model, byte[] bytes) throws IOException {
        store.write(store.writeLsn(), ByteSlice.of(bytes));
        model.write(bytes);
    }

    /** Initialises a store in {@code dir} at the WAL's start, writes and flushes it all, closes it. */
    private static Model writeAndClose(Path dir, Wal wal) throws IOException {
        Model model = new Model(wal.start);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(wal.start);
            write(store, model, wal.bytes);
            store.flush();
            assertPositions(store, wal.end(), "written");
        }
        assertStored(dir, model);
        return model;
    }

    private static void assertPositions(SegmentedWalStore store, Lsn end, String when) {
        assertFalse(store.isEmpty(), when);
        assertEquals(end, store.writeLsn(), "write_lsn " + when);
        assertEquals(end, store.writeRecordLsn(), "write_record_lsn " + when);
        assertEquals(end, store.flushRecordLsn(), "flush_record_lsn " + when);
    }

    /** {@code names}, and the spare that a flush makes once writing passed half the segment. */
    private static Set<String> withSpare(SegmentedWalStore store, String... names) {
        Set<String> expected = new TreeSet<>(List.of(names));
        Lsn at = store.writeLsn();
        if (at.segmentOffset(SEG) == 0 || at.segmentOffset(SEG) >= SEG / 2) {
            expected.add(partial(at.segmentNumber(SEG) + (at.segmentOffset(SEG) == 0 ? 0 : 1)));
        }
        return expected;
    }

    /**
     * The directory holds exactly the model's segments — final names before the one being written,
     * {@code .partial} for it, maybe a zero-filled {@code .partial} spare after it — each full size,
     * byte for byte the model's.
     */
    private static void assertStored(Path dir, Model model) throws IOException {
        long endSeg = model.writeLsn / SEG;
        boolean atBoundary = model.writeLsn % SEG == 0;
        Set<String> expected = new TreeSet<>();
        for (long segNo = model.firstSegment(); segNo < endSeg; segNo++) {
            expected.add(name(segNo));
        }
        Set<String> actual = fileNames(dir);
        if (!atBoundary || actual.contains(partial(endSeg))) {
            expected.add(partial(endSeg));
        }
        if (!atBoundary && actual.contains(partial(endSeg + 1))) {
            expected.add(partial(endSeg + 1)); // its contents are checked to be zeros below
        }
        assertEquals(expected, actual);
        for (String file : actual) {
            long segNo = XLogFileName.segNo(file, SEG);
            assertEquals(SEG, Files.size(dir.resolve(file)), file + " is not full size");
            assertArrayEquals(model.segment(segNo), Files.readAllBytes(dir.resolve(file)), file);
        }
    }


    private static Path segmentFile(Path dir, long segNo) {
        Path partial = dir.resolve(partial(segNo));
        return Files.exists(partial) ? partial : dir.resolve(name(segNo));
    }

    /** Overwrites stored bytes at {@code lsn} behind the store's back, as a torn write or bit rot would. */
    private static void patch(Path dir, Lsn lsn, byte[] bytes) throws IOException {
        for (int done = 0; done < bytes.length; ) {
            Lsn at = lsn.plus(done);
            int n = Math.min(bytes.length - done, SEG - at.segmentOffset(SEG));
            try (RandomAccessFile file = new RandomAccessFile(segmentFile(dir, at.segmentNumber(SEG)).toFile(), "rw")) {
                file.seek(at.segmentOffset(SEG));
                file.write(bytes, done, n);
            }
            done += n;
        }
    }

    private static byte[] read(Path dir, Lsn lsn, int length) throws IOException {
        byte[] bytes = new byte[length];
        try (RandomAccessFile file = new RandomAccessFile(segmentFile(dir, lsn.segmentNumber(SEG)).toFile(), "r")) {
            file.seek(lsn.segmentOffset(SEG));
            file.readFully(bytes);
        }
        return bytes;
    }
}
