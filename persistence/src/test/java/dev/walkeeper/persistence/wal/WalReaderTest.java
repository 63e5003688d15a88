package dev.walkeeper.persistence.wal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WalReaderTest {
    private static final int SEG = 1 << 20;
    private static final int PAGE = WalFormat.XLOG_BLCKSZ;
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    /** A record boundary in segment 1, mid-page on its third page: WAL starts mid-segment as after initdb. */
    private static final Lsn START = new Lsn(SEG + 2 * PAGE + 24 + 8 * 37);

    // ---- Chunks ------------------------------------------------------------------------------------

    @Test
    void readsEverythingBackInChunksCutAsWalsenderCutsThem(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(new Random(7), 3 * SEG + SEG / 2);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(START);
            wal.writeTo(store, new Random(8), 200_000);
            store.flush();
        }
        for (int maxBytes : new int[] {WalReader.MAX_SEND_SIZE, PAGE, 50_000, 3 * SEG}) {
            try (WalReader reader = new WalReader(dir, SEG)) {
                assertArrayEquals(wal.bytes(), readAll(reader, START, wal.end(), maxBytes), "chunks of " + maxBytes);
            }
        }
    }

    /** Following a commit LSN that moves from record end to record end, as a walsender does. */
    @Test
    void followsAnAdvancingUpperBoundChunkByChunk(@TempDir Path dir) throws IOException {
        Random random = new Random(11);
        Wal wal = Wal.random(random, 2 * SEG + SEG / 3);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(START);
            wal.writeTo(store, random, 100_000);
            store.flush();
        }
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        int chunks = 0;
        try (WalReader reader = new WalReader(dir, SEG)) {
            Lsn position = START;
            for (int i = 0; i < wal.ends().size(); i += 1 + random.nextInt(40)) {
                Lsn commit = wal.ends().get(i);
                while (position.compareTo(commit) < 0) {
                    byte[] chunk = reader.read(position, commit);
                    assertChunk(position, commit, WalReader.MAX_SEND_SIZE, chunk);
                    read.writeBytes(chunk);
                    position = position.plus(chunk.length);
                    chunks++;
                }
                assertEquals(0, reader.read(commit, commit).length, "nothing more to send at " + commit);
            }
        }
        assertTrue(chunks > wal.bytes().length / WalReader.MAX_SEND_SIZE, chunks + " chunks");
        byte[] expected = wal.bytes();
        assertArrayEquals(Arrays.copyOf(expected, read.size()), read.toByteArray());
    }

    @Test
    void chunksAreCutByTheSegmentEndThenAtPagesThenAtTheBound(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(new Random(3), 2 * SEG);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(START);
            wal.writeTo(store, new Random(4), 200_000);
        }
        Lsn segmentEnd = new Lsn(2L * SEG);
        try (WalReader reader = new WalReader(dir, SEG)) {
            // 100 bytes before the segment end: only those, though the bound is further.
            assertEquals(100, reader.read(segmentEnd.plus(-100), wal.end()).length);
            // Mid-page, far from the bound: 16 pages less the part of the first one already passed.
            Lsn midPage = new Lsn(SEG + 5L * PAGE + 1000);
            assertEquals(WalReader.MAX_SEND_SIZE - 1000, reader.read(midPage, wal.end()).length);
            // Mid-page, a bound within reach: exactly up to the bound, even mid-page.
            assertEquals(PAGE * 3 + 17, reader.read(midPage, midPage.plus(PAGE * 3 + 17)).length);
            // Page-aligned and far: a full MAX_SEND_SIZE.
            assertEquals(WalReader.MAX_SEND_SIZE, reader.read(new Lsn(SEG + 4L * PAGE), wal.end()).length);
            // The segment end caps even a bound in the next segment.
            assertEquals(3 * PAGE, reader.read(segmentEnd.plus(-3 * PAGE), segmentEnd.plus(10)).length);
        }
    }

    @Test
    void readIntoFillsAFramePastItsHeaderWithTheChunkReadWouldReturn(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(new Random(5), 2 * SEG);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(START);
            wal.writeTo(store, new Random(6), 200_000);
        }
        try (WalReader reader = new WalReader(dir, SEG)) {
            Lsn midPage = new Lsn(SEG + 5L * PAGE + 1000);
            int length = reader.chunkLength(midPage, wal.end(), WalReader.MAX_SEND_SIZE);
            byte[] expected = reader.read(midPage, wal.end());
            assertEquals(expected.length, length);
            byte[] frame = new byte[30 + length];
            reader.readInto(midPage, frame, 30, length);
            assertArrayEquals(expected, Arrays.copyOfRange(frame, 30, frame.length));
            Lsn nearEnd = new Lsn(2L * SEG - 100);
            assertThrows(IllegalArgumentException.class, () -> reader.readInto(nearEnd, new byte[200], 0, 200),
                    "a read never crosses a segment end");

            // The same into a direct buffer (a sender's reused frame), behind its header.
            ByteBuffer direct = ByteBuffer.allocateDirect(30 + WalReader.MAX_SEND_SIZE);
            direct.position(30).limit(30 + length);
            reader.readInto(midPage, direct);
            assertEquals(direct.limit(), direct.position());
            byte[] read = new byte[length];
            direct.position(30).get(read);
            assertArrayEquals(expected, read);
            assertThrows(IllegalArgumentException.class, () -> reader.readInto(nearEnd, ByteBuffer.allocateDirect(200)),
                    "a read never crosses a segment end");
        }
    }

    // ---- The writer beside the reader ---------------------------------------------------------------

    @Test
    void readsOnAcrossThePartialToFinalRename(@TempDir Path dir) throws IOException {
        Wal wal = Wal.random(new Random(5), 2 * SEG);
        Path partial = dir.resolve(XLogFileName.of(1, 1, SEG) + XLogFileName.PARTIAL_SUFFIX);
        Path complete = dir.resolve(XLogFileName.of(1, 1, SEG));
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID);
                WalReader reader = new WalReader(dir, SEG)) {
            store.initialize(START);
            int inFirstSegment = wal.recordsBefore(new Lsn(SEG + SEG / 2));
            wal.write(store, 0, inFirstSegment);
            Lsn firstEnd = store.writeLsn();
            Lsn position = readUpTo(reader, START, firstEnd, read);
            assertTrue(Files.exists(partial) && !Files.exists(complete), "segment 1 is still being written");

            wal.write(store, inFirstSegment, wal.ends().size());
            store.flush(); // a filled segment gets its final name once synced
            assertTrue(!Files.exists(partial) && Files.exists(complete), "segment 1 is complete");
            readUpTo(reader, position, store.writeLsn(), read);
        }
        assertArrayEquals(wal.bytes(), read.toByteArray());

        try (WalReader reader = new WalReader(dir, SEG)) {
            assertArrayEquals(wal.bytes(), readAll(reader, START, wal.end(), WalReader.MAX_SEND_SIZE),
                    "a new reader finds the segments by their final names");
        }
    }

    /**
     * A writer fills segments (renaming each on completion) while readers — a new one for every
     * chunk, so that files are opened all the time — read up to what was written.
     */
    @Test
    void readsWhileAWriterCompletesAndRenamesSegments(@TempDir Path dir) throws Exception {
        Wal wal = Wal.random(new Random(9), 8 * SEG);
        AtomicReference<Lsn> written = new AtomicReference<>(START);
        AtomicReference<Throwable> writerFailure = new AtomicReference<>();
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            store.initialize(START);
            Thread writer = new Thread(() -> {
                try {
                    Random random = new Random(10);
                    for (int i = 0; i < wal.ends().size(); ) {
                        int next = Math.min(wal.ends().size(), i + 1 + random.nextInt(20));
                        wal.write(store, i, next);
                        written.set(store.writeLsn());
                        i = next;
                    }
                } catch (Throwable e) {
                    writerFailure.set(e);
                }
            }, "wal-writer");
            writer.start();
            ByteArrayOutputStream read = new ByteArrayOutputStream();
            Lsn position = START;
            while (position.compareTo(wal.end()) < 0 && writerFailure.get() == null) {
                Lsn upTo = written.get();
                if (position.equals(upTo)) {
                    Thread.yield();
                    continue;
                }
                try (WalReader reader = new WalReader(dir, SEG)) {
                    byte[] chunk = reader.read(position, upTo);
                    assertChunk(position, upTo, WalReader.MAX_SEND_SIZE, chunk);
                    read.writeBytes(chunk);
                    position = position.plus(chunk.length);
                }
            }
            writer.join();
            assertNull(writerFailure.get());
            assertArrayEquals(wal.bytes(), read.toByteArray());
        }
    }

    // ---- Oldest WAL and removed segments ------------------------------------------------------------

    @Test
    void oldestAvailableIsTheStartOfTheOldestSegmentFile(@TempDir Path dir) throws IOException {
        Path timelineDir = dir.resolve("timeline");
        try (WalReader reader = new WalReader(timelineDir, SEG)) {
            assertEquals(Lsn.INVALID, reader.oldestAvailable(), "no directory yet");
        }
        Wal wal = Wal.random(new Random(12), 2 * SEG + SEG / 2);
        try (SegmentedWalStore store = SegmentedWalStore.open(timelineDir, FORMAT, Lsn.INVALID)) {
            try (WalReader reader = new WalReader(timelineDir, SEG)) {
                assertEquals(Lsn.INVALID, reader.oldestAvailable(), "an empty directory");
            }
            store.initialize(START);
            wal.write(store, 0, wal.ends().size());
            store.flush();
        }
        Files.writeString(timelineDir.resolve("000000020000000000000000"), "another timeline");
        Files.writeString(timelineDir.resolve("000000010000000000000000.tmp"), "a segment being created");
        Files.writeString(timelineDir.resolve("notes.txt"), "not WAL");
        try (WalReader reader = new WalReader(timelineDir, SEG)) {
            assertEquals(new Lsn(SEG), reader.oldestAvailable(), "segment 1, though WAL starts later in it");

            Files.delete(timelineDir.resolve(XLogFileName.of(1, 1, SEG)));
            assertEquals(new Lsn(2L * SEG), reader.oldestAvailable());
            var e = assertThrows(WalSegmentRemovedException.class, () -> reader.read(START, wal.end()));
            assertEquals("requested WAL segment 000000010000000000000001 has already been removed", e.getMessage());
            byte[] chunk = reader.read(new Lsn(2L * SEG), wal.end());
            assertArrayEquals(wal.range(new Lsn(2L * SEG), new Lsn(2L * SEG + chunk.length)), chunk);
        }
    }

    @Test
    void aSegmentNameImpossibleForTheSizeIsAnError(@TempDir Path dir) throws IOException {
        // 1 MiB segments number 0 to 0xFFF within a 4 GiB "log"; 0x1000 does not exist.
        Files.writeString(dir.resolve("000000010000000000001000"), "");
        try (WalReader reader = new WalReader(dir, SEG)) {
            assertThrows(IOException.class, reader::oldestAvailable);
        }
    }

    @Test
    void aShortSegmentFileIsAnError(@TempDir Path dir) throws IOException {
        try (RandomAccessFile file = new RandomAccessFile(dir.resolve(XLogFileName.of(1, 1, SEG)).toFile(), "rw")) {
            file.setLength(PAGE);
        }
        try (WalReader reader = new WalReader(dir, SEG)) {
            assertEquals(PAGE, reader.read(new Lsn(SEG), new Lsn(SEG + PAGE)).length);
            var e = assertThrows(IOException.class, () -> reader.read(new Lsn(SEG), new Lsn(SEG + 2 * PAGE)));
            assertTrue(e.getMessage().contains("ends at offset 8192"), e.getMessage());
        }
    }

    // ---- Arguments ------------------------------------------------------------------------------------

    @Test
    void refusesBadArgumentsAndUseAfterClose(@TempDir Path dir) throws IOException {
        assertThrows(IllegalArgumentException.class, () -> new WalReader(dir, 3 << 20));
        assertThrows(IllegalArgumentException.class, () -> new WalReader(dir, 1 << 16));
        WalReader reader = new WalReader(dir, SEG);
        assertThrows(IllegalArgumentException.class, () -> reader.read(new Lsn(SEG + 1), new Lsn(SEG)));
        assertThrows(IllegalArgumentException.class, () -> reader.read(new Lsn(SEG), new Lsn(2L * SEG), PAGE - 1));
        assertEquals(0, reader.read(new Lsn(SEG), new Lsn(SEG)).length, "nothing to read, no file needed");
        reader.close();
        assertThrows(IllegalStateException.class, () -> reader.read(new Lsn(SEG), new Lsn(SEG)));
        reader.close();
    }

    // ---- Helpers --------------------------------------------------------------------------------------

    /** Reads {@code [from, upTo)} chunk by chunk, checking each chunk. */
    private static byte[] readAll(WalReader reader, Lsn from, Lsn upTo, int maxBytes) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (Lsn position = from; position.compareTo(upTo) < 0; ) {
            byte[] chunk = reader.read(position, upTo, maxBytes);
            assertChunk(position, upTo, maxBytes, chunk);
            out.writeBytes(chunk);
            position = position.plus(chunk.length);
        }
        return out.toByteArray();
    }

    private static Lsn readUpTo(WalReader reader, Lsn from, Lsn upTo, ByteArrayOutputStream out) throws IOException {
        out.writeBytes(readAll(reader, from, upTo, WalReader.MAX_SEND_SIZE));
        return upTo;
    }

    /**
     * The walsender rules: not empty, at most {@code maxBytes}, inside one segment; it ends at
     * {@code upTo} if that is in reach, else as far as allowed and on a page boundary.
     */
    private static void assertChunk(Lsn from, Lsn upTo, int maxBytes, byte[] chunk) {
        String what = "chunk of " + chunk.length + " bytes from " + from + " towards " + upTo;
        long reach = Math.min(from.value() + maxBytes, (from.segmentNumber(SEG) + 1) * SEG);
        long end = from.value() + chunk.length;
        assertTrue(chunk.length > 0, what);
        assertTrue(chunk.length <= maxBytes, what);
        assertEquals(from.segmentNumber(SEG), new Lsn(end - 1).segmentNumber(SEG), what + " crosses a segment end");
        if (upTo.value() <= reach) {
            assertEquals(upTo.value(), end, what + " stops short of a bound in reach");
        } else {
            assertEquals(0, end % PAGE, what + " ends mid-page short of the bound");
            assertTrue(end > reach - PAGE, what + " is shorter than allowed");
        }
    }

    /** Generated WAL from {@link #START}: its bytes and where each record ends. */
    private record Wal(byte[] bytes, List<Lsn> ends) {
        /** Mostly small records, some spanning pages, a few spanning 100 KB or more. */
        static Wal random(Random random, int approxBytes) {
            WalGenerator generator = new WalGenerator(FORMAT, START, 0);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            List<Lsn> ends = new ArrayList<>();
            while (out.size() < approxBytes) {
                int kind = random.nextInt(100);
                int payload = kind < 70 ? random.nextInt(300) : kind < 97 ? random.nextInt(20_000)
                        : random.nextInt(200_000);
                out.writeBytes(generator.nextRecord(payload));
                ends.add(generator.position());
            }
            return new Wal(out.toByteArray(), List.copyOf(ends));
        }

        Lsn end() {
            return ends.get(ends.size() - 1);
        }

        /** Records {@code [first, last)} into the store, in one write. */
        void write(SegmentedWalStore store, int first, int last) throws IOException {
            Lsn from = first == 0 ? START : ends.get(first - 1);
            store.write(from, ByteSlice.of(range(from, ends.get(last - 1))));
        }

        /** Everything, in writes of random sizes up to {@code maxChunk} that split records anywhere. */
        void writeTo(SegmentedWalStore store, Random random, int maxChunk) throws IOException {
            for (int offset = 0; offset < bytes.length; ) {
                int n = Math.min(bytes.length - offset, 1 + random.nextInt(maxChunk));
                store.write(START.plus(offset), ByteSlice.of(bytes, offset, n));
                offset += n;
            }
        }

        byte[] range(Lsn from, Lsn to) {
            return Arrays.copyOfRange(bytes, (int) (from.value() - START.value()), (int) (to.value() - START.value()));
        }

        int recordsBefore(Lsn lsn) {
            int n = 0;
            while (n < ends.size() && ends.get(n).compareTo(lsn) <= 0) {
                n++;
            }
            return n;
        }
    }
}
