package dev.walkeeper.actors.consensus;

import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * WAL fake: bytes in memory from a start LSN; every write is taken to end on a record boundary
 * (tests append whole records). {@link #reboot()} keeps only what was flushed, as a crash would.
 * Flush jobs run {@code sync} (a test's seam to hold or fail the "fsync"); a failed one is latched.
 */
public final class InMemoryWalStore implements WalStore {
    /** What a flush job's "fsync" does, on the thread running the job. */
    @FunctionalInterface
    public interface Sync {
        Sync NONE = () -> { };

        void run() throws IOException;
    }

    private Lsn start = Lsn.INVALID;
    private byte[] bytes = new byte[0];
    private Lsn recordEnd = Lsn.INVALID;
    private Lsn flushed = Lsn.INVALID;
    /** Jobs run with something to sync. */
    final AtomicInteger flushes = new AtomicInteger();
    private final Sync sync;
    private long epoch;
    private volatile IOException syncFailure;

    InMemoryWalStore() {
        this(Sync.NONE);
    }

    InMemoryWalStore(Sync sync) {
        this.sync = sync;
    }

    private record Job(long epoch, Lsn target, boolean hasWork, Sync sync, InMemoryWalStore store)
            implements FlushJob {
        @Override
        public void run() throws IOException {
            if (!hasWork) {
                return;
            }
            store.flushes.incrementAndGet();
            try {
                sync.run();
            } catch (IOException e) {
                store.syncFailure = e;
                throw new dev.walkeeper.persistence.wal.WalSyncFailedException("injected fsync failure", e);
            }
        }
    }

    @Override
    public boolean isEmpty() {
        return !start.isValid();
    }

    @Override
    public Lsn writeLsn() {
        return isEmpty() ? Lsn.INVALID : start.plus(bytes.length);
    }

    @Override
    public Lsn writeRecordLsn() {
        return recordEnd;
    }

    @Override
    public Lsn flushRecordLsn() {
        return flushed;
    }

    @Override
    public void initialize(Lsn at) {
        if (!isEmpty()) {
            throw new IllegalStateException("already initialised");
        }
        start = at;
        recordEnd = at;
    }

    /** A test's seam: the next write fails with {@code failure} (an I/O error, not an fsync's). */
    private volatile IOException nextWriteFailure;

    public void failNextWrite(IOException failure) {
        nextWriteFailure = failure;
    }

    @Override
    public void write(Lsn begin, ByteSlice data) throws IOException {
        requireSynced();
        IOException failure = nextWriteFailure;
        if (failure != null) {
            nextWriteFailure = null;
            throw failure;
        }
        if (!begin.equals(writeLsn())) {
            throw new IllegalStateException("write at " + begin + " but write_lsn is " + writeLsn());
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(bytes);
        out.writeBytes(data.toArray());
        bytes = out.toByteArray();
        recordEnd = writeLsn();
    }

    @Override
    public FlushJob prepareFlush() throws IOException {
        requireSynced();
        return new Job(epoch, recordEnd, !recordEnd.equals(flushed), sync, this);
    }

    @Override
    public boolean completeFlush(FlushJob job) throws IOException {
        Job j = (Job) job;
        if (j.epoch != epoch) {
            return false;
        }
        requireSynced();
        flushed = Lsn.max(flushed, j.target);
        return true;
    }

    private void requireSynced() throws IOException {
        if (syncFailure != null) {
            throw new dev.walkeeper.persistence.wal.WalSyncFailedException("an earlier fsync failed", syncFailure);
        }
    }

    @Override
    public void truncate(Lsn end) throws IOException {
        requireSynced();
        epoch++;
        if (end.compareTo(recordEnd) > 0 || end.compareTo(start) < 0) {
            throw new IllegalArgumentException("truncate to " + end + " outside [" + start + ", " + recordEnd + "]");
        }
        bytes = Arrays.copyOf(bytes, (int) (end.value() - start.value()));
        recordEnd = end;
        flushed = Lsn.min(flushed, end);
    }

    /** The bytes stored from {@code from} to the end of written WAL. */
    byte[] read(Lsn from) {
        return Arrays.copyOfRange(bytes, (int) (from.value() - start.value()), bytes.length);
    }

    /** The bytes stored in {@code [from, to)}. */
    byte[] read(Lsn from, Lsn to) {
        return Arrays.copyOfRange(bytes, (int) (from.value() - start.value()), (int) (to.value() - start.value()));
    }

    InMemoryWalStore reboot() {
        InMemoryWalStore after = new InMemoryWalStore(sync);
        if (flushed.isValid()) {
            after.start = start;
            after.bytes = Arrays.copyOf(bytes, (int) (flushed.value() - start.value()));
            after.recordEnd = flushed;
            after.flushed = flushed;
        }
        return after;
    }

    @Override
    public void close() {}
}
