package dev.walkeeper.actors.consensus;

import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.Lsn;
import java.io.ByteArrayOutputStream;
import java.util.Arrays;

/**
 * WAL fake: bytes in memory from a start LSN; every write is taken to end on a record boundary
 * (tests append whole records). {@link #reboot()} keeps only what was flushed, as a crash would.
 */
final class InMemoryWalStore implements WalStore {
    private Lsn start = Lsn.INVALID;
    private byte[] bytes = new byte[0];
    private Lsn recordEnd = Lsn.INVALID;
    private Lsn flushed = Lsn.INVALID;
    int flushes;

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

    @Override
    public void write(Lsn begin, byte[] data) {
        if (!begin.equals(writeLsn())) {
            throw new IllegalStateException("write at " + begin + " but write_lsn is " + writeLsn());
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(bytes);
        out.writeBytes(data);
        bytes = out.toByteArray();
        recordEnd = writeLsn();
    }

    @Override
    public void flush() {
        flushes++;
        flushed = recordEnd;
    }

    @Override
    public void truncate(Lsn end) {
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
        InMemoryWalStore after = new InMemoryWalStore();
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
