package dev.walkeeper.actors.consensus;

import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import java.util.Arrays;

/**
 * The simulation's WAL: bytes in memory from a start LSN with a written and a flushed end; every
 * write ends on a record boundary. {@link #crashed()} keeps only what was flushed. Tracks how far
 * it was truncated, so that the invariant checks compare only bytes that are new.
 */
final class SimWalStore implements WalStore {
    private Lsn start = Lsn.INVALID;
    private byte[] bytes = new byte[64];
    private int length;
    private int flushedLength;
    /** The shortest length since {@link #lowWater()} was last called: bytes below it did not change. */
    private int lowWater;

    @Override
    public boolean isEmpty() {
        return !start.isValid();
    }

    @Override
    public Lsn writeLsn() {
        return isEmpty() ? Lsn.INVALID : start.plus(length);
    }

    @Override
    public Lsn writeRecordLsn() {
        return writeLsn();
    }

    @Override
    public Lsn flushRecordLsn() {
        return isEmpty() ? Lsn.INVALID : start.plus(flushedLength);
    }

    @Override
    public void initialize(Lsn at) {
        if (!isEmpty()) {
            throw new IllegalStateException("already initialised at " + start);
        }
        start = at;
    }

    @Override
    public void write(Lsn begin, ByteSlice data) {
        if (!begin.equals(writeLsn())) {
            throw new IllegalStateException("write at " + begin + " but write_lsn is " + writeLsn());
        }
        if (length + data.length() > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(2 * bytes.length, length + data.length()));
        }
        data.copyTo(bytes, length);
        length += data.length();
    }

    /** What a flush prepared covers: durable once completed, unless a truncation came between. */
    private record Job(long epoch, int length, Lsn target) implements FlushJob {
        @Override public boolean hasWork() { return true; }
        @Override public void run() {}
    }

    /** Counts truncations: a job prepared before one completes nothing. */
    private long epoch;

    @Override
    public FlushJob prepareFlush() {
        return new Job(epoch, length, writeLsn());
    }

    @Override
    public boolean completeFlush(FlushJob job) {
        Job j = (Job) job;
        if (j.epoch() != epoch) {
            return false;
        }
        flushedLength = Math.max(flushedLength, j.length());
        return true;
    }

    @Override
    public void truncate(Lsn end) {
        if (end.compareTo(writeLsn()) > 0 || end.compareTo(start) < 0) {
            throw new IllegalArgumentException("truncate to " + end + " outside [" + start + ", " + writeLsn() + "]");
        }
        epoch++;
        length = (int) (end.value() - start.value());
        flushedLength = Math.min(flushedLength, length);
        lowWater = Math.min(lowWater, length);
    }

    @Override
    public void close() {}

    /** What a restart finds: the flushed WAL only (an empty store if nothing was ever flushed). */
    SimWalStore crashed() {
        SimWalStore after = new SimWalStore();
        if (flushedLength > 0) {
            after.start = start;
            after.bytes = Arrays.copyOf(bytes, flushedLength);
            after.length = flushedLength;
            after.flushedLength = flushedLength;
        }
        after.lowWater = Math.min(lowWater, flushedLength);
        return after;
    }

    /** How many bytes from the start stayed unchanged since the last call. */
    int lowWater() {
        int low = lowWater;
        lowWater = length;
        return low;
    }

    /** The first LSN held (INVALID when empty). */
    Lsn start() {
        return start;
    }

    /**
     * The length of the common prefix of the flushed bytes and {@code expected[0, n)}, given that
     * the first {@code known} bytes are known to agree.
     */
    int agreement(int known, byte[] expected, int n) {
        int end = Math.min(flushedLength, n);
        if (known >= end) {
            return end;
        }
        int at = Arrays.mismatch(bytes, known, end, expected, known, end);
        return at < 0 ? end : known + at;
    }

    /** A copy of the bytes in {@code [start, start + n)}. */
    byte[] copy(int n) {
        return Arrays.copyOf(bytes, n);
    }
}
