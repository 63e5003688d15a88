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
import dev.walkeeper.protocol.wal.WalGenerator;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The two phases of a flush, the spare segment made ahead, crashes between phases, a failed fsync. */
class SegmentedWalStoreFlushTest {
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final Lsn START = new Lsn(SEG);

    /** An fsync that can be held until released, and counted. */
    private static final class GatedSync implements FileSync {
        final CountDownLatch entered = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger syncs = new AtomicInteger();

        @Override
        public void force(FileChannel channel, boolean metaData) throws IOException {
            syncs.incrementAndGet();
            entered.countDown();
            try {
                assertTrue(release.await(30, TimeUnit.SECONDS), "fsync never released");
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
            channel.force(metaData);
        }
    }

    @Test
    void writesGoOnWhileAJobSyncsAndCompletingItMakesOnlyItsTargetDurable(@TempDir Path dir) throws Exception {
        GatedSync sync = new GatedSync();
        WalGenerator wal = new WalGenerator(FORMAT, START, 100);
        try (SegmentedWalStore store = initialized(dir, sync)) {
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(20_000)));
            Lsn first = store.writeRecordLsn();
            WalStore.FlushJob job = store.prepareFlush();
            assertEquals(first, job.target());
            assertTrue(job.hasWork());
            assertThrows(IllegalStateException.class, store::prepareFlush, "one job at a time");
            CompletableFuture<Void> running = CompletableFuture.runAsync(() -> {
                try {
                    job.run();
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            assertTrue(sync.entered.await(30, TimeUnit.SECONDS));

            // The fsync is in progress: writing goes on, nothing more is reported durable.
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(30_000)));
            Lsn second = store.writeRecordLsn();
            assertTrue(second.compareTo(first) > 0);
            assertEquals(Lsn.INVALID, store.flushRecordLsn());

            sync.release.countDown();
            running.get(30, TimeUnit.SECONDS);
            assertEquals(Lsn.INVALID, store.flushRecordLsn(), "only completing moves it");
            assertTrue(store.completeFlush(job));
            assertEquals(first, store.flushRecordLsn());

            store.flush();
            assertEquals(second, store.flushRecordLsn());
            assertEquals(2, sync.syncs.get(), "one fsync per job with writes: " + sync.syncs.get());
        }
    }

    @Test
    void aJobWithNothingWrittenHasNoWork(@TempDir Path dir) throws IOException {
        try (SegmentedWalStore store = initialized(dir)) {
            store.write(store.writeLsn(), ByteSlice.of(new WalGenerator(FORMAT, START, 100).nextRecords(1000)));
            store.flush();
            WalStore.FlushJob job = store.prepareFlush();
            assertFalse(job.hasWork());
            job.run();
            assertTrue(store.completeFlush(job));
            assertEquals(store.writeRecordLsn(), store.flushRecordLsn());
        }
    }

    @Test
    void theNextSegmentIsMadeAheadByAFlushAndTheSwitchTakesIt(@TempDir Path dir) throws IOException {
        WalGenerator wal = new WalGenerator(FORMAT, START, 1000);
        try (SegmentedWalStore store = initialized(dir)) {
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(SEG / 2 - 10_000)));
            store.flush();
            assertEquals(Set.of(partial(1)), fileNames(dir), "not yet half way: no spare");

            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(20_000)));
            store.flush();
            assertEquals(Set.of(partial(1), partial(2)), fileNames(dir), "past half way: the spare");
            Object spare = Files.readAttributes(dir.resolve(partial(2)),
                    java.nio.file.attribute.BasicFileAttributes.class).fileKey();
            assertArrayEquals(new byte[SEG], Files.readAllBytes(dir.resolve(partial(2))));

            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(SEG / 2 + 10_000))); // into segment 2
            assertTrue(store.writeLsn().segmentNumber(SEG) == 2);
            assertEquals(Set.of(partial(1), partial(2)), fileNames(dir), "segment 1 waits for its fsync");
            assertEquals(spare, Files.readAttributes(dir.resolve(partial(2)),
                    java.nio.file.attribute.BasicFileAttributes.class).fileKey(), "the spare was taken, not replaced");
            store.flush();
            assertEquals(Set.of(name(1), partial(2)), fileNames(dir));
        }
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertEquals(wal.position(), store.flushRecordLsn());
        }
    }

    @Test
    void reopeningAfterACrashBetweenRunAndCompleteFindsTheWrittenEnd(@TempDir Path dir) throws IOException {
        WalGenerator wal = new WalGenerator(FORMAT, START, 1000);
        try (SegmentedWalStore store = initialized(dir)) {
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(SEG + SEG / 4)));
            WalStore.FlushJob job = store.prepareFlush();
            job.run(); // synced and renamed, never completed: the "crash" comes first
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(5000)));
        }
        assertEquals(Set.of(name(1), partial(2)), fileNames(dir));
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertEquals(wal.position(), store.writeLsn());
            assertEquals(wal.position(), store.flushRecordLsn());
        }
    }

    @Test
    void aFilledSegmentNeverSyncedIsDecodedThroughNotSkipped(@TempDir Path dir) throws IOException {
        WalGenerator wal = new WalGenerator(FORMAT, START, 1000);
        List<Lsn> starts = new ArrayList<>();
        try (SegmentedWalStore store = initialized(dir)) {
            while (store.writeLsn().compareTo(new Lsn(2L * SEG + SEG / 4)) < 0) {
                starts.add(wal.position());
                store.write(store.writeLsn(), ByteSlice.of(wal.nextRecord(1000)));
            }
        }
        // A crash lost a block in the middle of segment 1, which was filled but never synced, while
        // segment 2 reached the disk: the end is before the hole, not in segment 2.
        assertEquals(Set.of(partial(1), partial(2)), fileNames(dir));
        Lsn hole = starts.stream().filter(s -> s.segmentOffset(SEG) > SEG / 2
                && s.segmentOffset(SEG) % WalFormat.XLOG_BLCKSZ < WalFormat.XLOG_BLCKSZ - 100).findFirst().orElseThrow();
        try (RandomAccessFile file = new RandomAccessFile(dir.resolve(partial(1)).toFile(), "rw")) {
            file.seek(hole.segmentOffset(SEG) + 40);
            file.write(new byte[8]);
        }
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID)) {
            assertEquals(hole, store.writeLsn());
            assertEquals(hole, store.flushRecordLsn());
        }
        assertEquals(Set.of(partial(1)), fileNames(dir));
    }

    @Test
    void aFailedFsyncIsFinal(@TempDir Path dir) throws IOException {
        AtomicBoolean failing = new AtomicBoolean(true);
        FileSync sync = (channel, metaData) -> {
            if (failing.get()) {
                throw new IOException("EIO (injected)");
            }
            channel.force(metaData);
        };
        WalGenerator wal = new WalGenerator(FORMAT, START, 100);
        try (SegmentedWalStore store = initialized(dir, sync)) {
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(10_000)));
            WalStore.FlushJob job = store.prepareFlush();
            WalSyncFailedException failed = assertThrows(WalSyncFailedException.class, job::run);
            assertEquals("EIO (injected)", failed.getCause().getMessage());

            failing.set(false); // a retry could now "succeed": it must not be tried
            assertThrows(WalSyncFailedException.class, () -> store.completeFlush(job));
            assertThrows(WalSyncFailedException.class, store::flush);
            assertThrows(WalSyncFailedException.class, store::prepareFlush);
            assertThrows(WalSyncFailedException.class, () -> store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(100))));
            assertThrows(WalSyncFailedException.class, () -> store.truncate(START));
            assertEquals(Lsn.INVALID, store.flushRecordLsn());
        }
    }

    @Test
    void aJobPreparedBeforeATruncationOrCloseIsStale(@TempDir Path dir) throws IOException {
        WalGenerator wal = new WalGenerator(FORMAT, START, 100);
        try (SegmentedWalStore store = initialized(dir)) {
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecord(100)));
            Lsn cut = store.writeRecordLsn();
            store.write(store.writeLsn(), ByteSlice.of(wal.nextRecords(10_000)));
            WalStore.FlushJob job = store.prepareFlush();
            job.run();
            store.truncate(cut);
            assertFalse(store.completeFlush(job));
            assertEquals(cut, store.flushRecordLsn());

            store.write(store.writeLsn(), ByteSlice.of(new WalGenerator(FORMAT, cut, 100).nextRecords(1000)));
            WalStore.FlushJob unstarted = store.prepareFlush();
            store.close(); // the runner may be gone: the job is cancelled, not waited for
            unstarted.run();
            assertFalse(store.completeFlush(unstarted));
        }
    }

    /** A new store in {@code dir} whose WAL starts at {@link #START}. */
    private static SegmentedWalStore initialized(Path dir) throws IOException {
        return initialized(dir, FileSync.FORCE);
    }

    /** As {@link #initialized(Path)}, its segments synced by {@code sync}. */
    private static SegmentedWalStore initialized(Path dir, FileSync sync) throws IOException {
        SegmentedWalStore store = SegmentedWalStore.open(dir, FORMAT, Lsn.INVALID, sync);
        store.initialize(START);
        return store;
    }
}
