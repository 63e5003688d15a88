package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.Lsn;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One flush of a {@link SegmentedWalStore}, prepared on the owner's thread and run on another:
 * fdatasyncs the segments filled since the last flush and the segment being written (what was
 * written before the job was prepared; writes go on past it meanwhile), then closes the filled
 * ones and gives them their final names (after their fsync, as the store's invariants require).
 */
final class SegmentFlushJob implements WalStore.FlushJob {
    private static final int NEW = 0;
    private static final int RUNNING = 1;
    private static final int DONE = 2;
    private static final int FAILED = 3;
    private static final int CANCELLED = 4;

    /** What a filled segment is renamed from and to once synced. */
    record Filled(OpenSegment segment, Path partial, Path finalName) {}

    final long epoch;
    private final long target;
    private final Path dir;
    private final FileSync sync;
    private final List<Filled> filled;
    /** The segment being written when prepared, if it held unsynced writes. */
    private final OpenSegment current;
    private final Consumer<WalSyncFailedException> latch;
    private final AtomicInteger state = new AtomicInteger(NEW);
    private final CountDownLatch finished = new CountDownLatch(1);

    SegmentFlushJob(long epoch, long target, Path dir, FileSync sync, List<Filled> filled, OpenSegment current,
                    Consumer<WalSyncFailedException> latch) {
        this.epoch = epoch;
        this.target = target;
        this.dir = dir;
        this.sync = sync;
        this.filled = List.copyOf(filled);
        this.current = current;
        this.latch = latch;
    }

    @Override
    public Lsn target() {
        return target == 0 ? Lsn.INVALID : new Lsn(target);
    }

    @Override
    public boolean hasWork() {
        return !filled.isEmpty() || current != null;
    }

    @Override
    public void run() throws IOException {
        if (!state.compareAndSet(NEW, RUNNING)) {
            if (state.get() == CANCELLED) {
                return; // its store was closed before it started: nothing may touch its files now
            }
            throw new IllegalStateException("flush job run twice");
        }
        try {
            for (Filled f : filled) {
                sync.force(f.segment().channel, false);
            }
            if (current != null) {
                sync.force(current.channel, false);
            }
            for (Filled f : filled) {
                f.segment().close();
                SegmentFiles.complete(dir, f.partial(), f.finalName());
            }
            state.set(DONE);
        } catch (IOException | RuntimeException e) {
            WalSyncFailedException failed = new WalSyncFailedException("fsync of WAL in " + dir + " failed", e);
            latch.accept(failed);
            state.set(FAILED);
            throw failed;
        } finally {
            finished.countDown();
        }
    }

    /**
     * Stops a job that has not started (its runner may be gone), so that its files can be
     * closed; false if it started, when {@link #await} is needed instead.
     */
    boolean cancel() {
        if (state.compareAndSet(NEW, CANCELLED)) {
            finished.countDown();
            return true;
        }
        return state.get() == CANCELLED;
    }

    /** Waits until {@link #run()} finished (or the job was cancelled). */
    void await() {
        Uninterruptibly.await(finished); // the fsync cannot be abandoned half-way: its files are in use
    }

    boolean succeeded() {
        return state.get() == DONE;
    }

    List<Filled> filled() {
        return filled;
    }
}
