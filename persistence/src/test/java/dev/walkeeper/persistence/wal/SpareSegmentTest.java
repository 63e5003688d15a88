package dev.walkeeper.persistence.wal;

import static dev.walkeeper.persistence.wal.WalTestFiles.SEG;
import static dev.walkeeper.persistence.wal.WalTestFiles.fileNames;
import static dev.walkeeper.persistence.wal.WalTestFiles.partial;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The next segment made ahead on a background executor: zero-filled or sparse, taken, stopped. */
class SpareSegmentTest {
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final Lsn START = new Lsn(SEG);

    /** Holds the tasks given to it until the test runs them. */
    private static final class HeldTasks implements Executor {
        final List<Runnable> tasks = new ArrayList<>();

        @Override
        public synchronized void execute(Runnable task) {
            tasks.add(task);
        }

        synchronized Runnable only() {
            assertEquals(1, tasks.size(), "tasks given: " + tasks);
            return tasks.get(0);
        }
    }

    @Test
    void smallFlushesGetAZeroFilledSpareThatTheSwitchTakes(@TempDir Path dir) throws Exception {
        WalGenerator wal = new WalGenerator(FORMAT, START, 100);
        try (SegmentedWalStore store = initialized(dir, Runnable::run)) {
            writeAndFlushUntilHalfWay(store, wal, 8192);
            assertEquals(Set.of(partial(1), partial(2)), fileNames(dir));
            Path spare = dir.resolve(partial(2));
            assertTrue(allocatedBytes(spare) >= SEG, "zero-filled: every block allocated, " + allocatedBytes(spare));
            assertArrayEquals(new byte[SEG], Files.readAllBytes(spare));
            Object spareKey = fileKey(spare);

            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(SEG / 2 + 10_000)));
            assertEquals(2, store.writeLsn().segmentNumber(SEG));
            assertEquals(spareKey, fileKey(spare), "the spare was taken, not replaced");
            store.flush();
        }
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertEquals(wal.position(), store.flushRecordLsn());
        }
    }

    @Test
    void largeFlushesGetASparseSpare(@TempDir Path dir) throws Exception {
        WalGenerator wal = new WalGenerator(FORMAT, START, 1000);
        try (SegmentedWalStore store = initialized(dir, Runnable::run)) {
            writeAndFlushUntilHalfWay(store, wal, 128 * 1024);
            Path spare = dir.resolve(partial(2));
            assertTrue(Files.exists(spare));
            assertTrue(allocatedBytes(spare) < SEG / 2, "sparse: " + allocatedBytes(spare) + " bytes allocated");
            assertArrayEquals(new byte[SEG], Files.readAllBytes(spare));
        }
    }

    @Test
    void aSwitchWaitsForTheSpareBeingMade(@TempDir Path dir) throws Exception {
        HeldTasks held = new HeldTasks();
        WalGenerator wal = new WalGenerator(FORMAT, START, 100);
        try (SegmentedWalStore store = initialized(dir, held)) {
            writeAndFlushUntilHalfWay(store, wal, 8192);
            Runnable making = held.only();
            assertEquals(Set.of(partial(1)), fileNames(dir), "not made yet");

            byte[] intoNext = wal.nextRecords(SEG / 2 + 10_000);
            CompletableFuture<Void> switching = new CompletableFuture<>();
            Thread writer = new Thread(() -> {
                try {
                    store.write(store.writeLsn(), ByteSlice.of(intoNext));
                    switching.complete(null);
                } catch (IOException | RuntimeException e) {
                    switching.completeExceptionally(e);
                }
            });
            writer.start();
            // The write cannot go past the segment's end until the spare exists: it waits for it.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (writer.getState() != Thread.State.WAITING && !switching.isDone() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertEquals(Thread.State.WAITING, writer.getState(), "the switch waits for the spare");
            assertEquals(Set.of(partial(1)), fileNames(dir));
            making.run();
            switching.get(30, TimeUnit.SECONDS);
            assertTrue(allocatedBytes(dir.resolve(partial(2))) >= SEG, "the zero-filled spare was used");
            store.flush();
            assertEquals(wal.position(), store.flushRecordLsn());
        }
    }

    @Test
    void aTruncationStopsTheSpareAndCutsIt(@TempDir Path dir) throws Exception {
        HeldTasks held = new HeldTasks();
        WalGenerator wal = new WalGenerator(FORMAT, START, 100);
        try (SegmentedWalStore store = initialized(dir, held)) {
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecord(100)));
            Lsn cut = store.writeRecordLsn();
            writeAndFlushUntilHalfWay(store, wal, 8192);
            Runnable making = held.only();
            store.truncate(cut);
            making.run(); // cancelled: it makes nothing
            assertEquals(Set.of(partial(1)), fileNames(dir));

            // A spare made before the truncation is deleted by the cut.
            WalGenerator again = new WalGenerator(FORMAT, cut, 100);
            writeAndFlushUntilHalfWay(store, again, 8192);
            Runnable second = held.tasks.get(1);
            second.run();
            assertEquals(Set.of(partial(1), partial(2)), fileNames(dir));
            store.truncate(cut);
            assertEquals(Set.of(partial(1)), fileNames(dir));

            // Writing on makes a new spare and switches into it.
            WalGenerator third = new WalGenerator(FORMAT, cut, 100);
            writeAndFlushUntilHalfWay(store, third, 8192);
            held.tasks.get(2).run();
            store.write(store.writeLsn(), ByteSlice.of(third.nextRecords(SEG / 2 + 10_000)));
            store.flush();
            assertEquals(third.position(), store.flushRecordLsn());
        }
    }

    @Test
    void closeStopsAnUnstartedSpareAndARefusedOneLeavesTheSwitchToCreateIt(@TempDir Path dir) throws Exception {
        HeldTasks held = new HeldTasks();
        WalGenerator wal = new WalGenerator(FORMAT, START, 100);
        try (SegmentedWalStore store = initialized(dir, held)) {
            writeAndFlushUntilHalfWay(store, wal, 8192);
        }
        held.only().run(); // after close: it must not create anything
        assertEquals(Set.of(partial(1)), fileNames(dir));

        Executor refusing = task -> {
            throw new RejectedExecutionException("shut down (test)");
        };
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID, FileSync.FORCE, refusing)) {
            WalGenerator more = new WalGenerator(FORMAT, store.writeLsn(), 100);
            writeAndFlushUntilHalfWay(store, more, 8192);
            assertEquals(Set.of(partial(1)), fileNames(dir));
            store.write(store.writeLsn(), ByteSlice.of(more.nextRecords(SEG / 2 + 10_000)));
            store.flush();
            assertEquals(more.position(), store.flushRecordLsn());
            assertTrue(allocatedBytes(dir.resolve(partial(2))) < SEG / 2, "created sparse at the switch");
        }
    }

    /** Writes about {@code bytesPerFlush} and flushes, until a flush was prepared past half of the segment. */
    private static void writeAndFlushUntilHalfWay(SegmentedWalStore store, WalGenerator wal, int bytesPerFlush)
            throws IOException {
        long segment = store.writeLsn().segmentNumber(SEG);
        do {
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(bytesPerFlush)));
            store.flush();
        } while (store.writeLsn().segmentOffset(SEG) < SEG / 2);
        assertEquals(segment, store.writeLsn().segmentNumber(SEG), "still in the same segment");
    }

    private static SegmentedWalStore initialized(Path dir, Executor spareMaker) throws IOException {
        SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID, FileSync.FORCE, spareMaker);
        store.initialize(START);
        return store;
    }

    /** Blocks allocated to the file on disk, in bytes ({@code stat}: the JDK does not tell). */
    private static long allocatedBytes(Path file) throws IOException, InterruptedException {
        Process stat = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String out = new String(stat.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(0, stat.waitFor(), out);
        String[] blocks = out.split(" ");
        return Long.parseLong(blocks[0]) * Long.parseLong(blocks[1]);
    }

    private static Object fileKey(Path file) throws IOException {
        return Files.readAttributes(file, BasicFileAttributes.class).fileKey();
    }
}
