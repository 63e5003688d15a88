package dev.walkeeper.persistence.wal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The segment after the one being written, made ahead of time on a background thread so that a
 * segment switch only opens it — never creates, writes or fsyncs a file in the append path. It
 * holds no WAL: a spare that fails or is stopped costs nothing but its creation at the switch.
 */
final class SpareSegment implements Runnable {
    private static final int NEW = 0;
    private static final int RUNNING = 1;
    private static final int FINISHED = 2;
    private static final int CANCELLED = 3;

    final long segNo;
    private final Path dir;
    private final String name;
    private final int size;
    private final boolean zeroFilled;
    private final AtomicInteger state = new AtomicInteger(NEW);
    private final CountDownLatch finished = new CountDownLatch(1);
    /** Asked by a running creation between its writes. */
    private volatile boolean stopRequested;
    /** The {@code .partial} file made; null until then, or if the creation failed or stopped. */
    private volatile Path file;
    private volatile IOException failure;

    SpareSegment(long segNo, Path dir, String name, int size, boolean zeroFilled) {
        this.segNo = segNo;
        this.dir = dir;
        this.name = name;
        this.size = size;
        this.zeroFilled = zeroFilled;
    }

    @Override
    public void run() {
        if (!state.compareAndSet(NEW, RUNNING)) {
            return; // cancelled before it started
        }
        try {
            file = zeroFilled
                    ? SegmentFiles.createZeroFilled(dir, name, size, () -> stopRequested)
                    : SegmentFiles.createPreallocated(dir, name, size);
        } catch (IOException | RuntimeException e) {
            failure = e instanceof IOException io ? io : new IOException(e);
        } finally {
            state.set(FINISHED);
            finished.countDown();
        }
    }

    /**
     * Stops it: an unstarted one never runs (also what a runner that refused it needs); a running
     * one stops at its next write.
     */
    void cancel() {
        stopRequested = true;
        if (state.compareAndSet(NEW, CANCELLED)) {
            finished.countDown();
        }
    }

    /** Waits until it finished or was cancelled: afterwards no thread touches its files. */
    void await() {
        Uninterruptibly.await(finished); // its file is being written: wait for it all the same
    }

    /** After {@link #await}: the spare's {@code .partial} file, durably in place, or null if none was made. */
    Path file() {
        return file;
    }

    /** After {@link #await}: why making it failed, or null. */
    IOException failure() {
        return failure;
    }

    boolean zeroFilled() {
        return zeroFilled;
    }
}
