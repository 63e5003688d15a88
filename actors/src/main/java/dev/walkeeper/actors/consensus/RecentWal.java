package dev.walkeeper.actors.consensus;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;

/**
 * The most recent WAL, up to a budget of bytes, from which a proposer catches lagging nodes up:
 * a ring of chunks, each allocated once (when the WAL first reaches it) and then overwritten in
 * place, plus the last appended slice itself.
 *
 * <p>Why a ring: keeping every appended array until a budget's worth of newer WAL had arrived made
 * each one outlive several young collections (the bridge's default budget is 64 MB), so all WAL
 * was copied into the old generation and reclaimed by full collections — measured in the bridge
 * under pgbench: ~8.5 MB promoted per young collection, young pauses up to 41 ms, a 65 ms full
 * collection every ~30 s, each stalling every commit. Copying an append into the ring is cheap
 * next to that.
 *
 * <p>Why the last slice too: a node at the end of WAL is sent exactly the appended slice (the
 * bridge encodes it once for all nodes), or a part of it without a copy, and an append bigger
 * than the budget still reaches the nodes. What is held is {@code [start(), end())}: the ring's last {@code capacity} bytes and the
 * last append, whichever reaches further back.
 */
final class RecentWal {

    private static final int CHUNK_BYTES = 1 << 20;

    private final long capacity;
    private final int chunkBytes;
    private final byte[][] chunks;
    /** The first byte ever appended since the last {@link #restart}; nothing before it is held. */
    private Lsn first = Lsn.INVALID;
    private Lsn end = Lsn.INVALID;
    private Lsn lastBegin = Lsn.INVALID;
    private ByteSlice last;

    RecentWal(long capacity) {
        this(capacity, CHUNK_BYTES);
    }

    /** With chunks of {@code chunkBytes} (tests: small chunks, to cross their edges often). */
    RecentWal(long capacity, int chunkBytes) {
        if (capacity < 0) {
            throw new IllegalArgumentException("negative buffer budget " + capacity);
        }
        this.capacity = capacity;
        this.chunkBytes = chunkBytes;
        this.chunks = new byte[Math.toIntExact((capacity + chunkBytes - 1) / chunkBytes)][];
    }

    /** Forgets everything held: the WAL goes on from {@code at}. */
    void restart(Lsn at) {
        first = at;
        end = at;
        lastBegin = at;
        last = null;
    }

    /** {@code wal} at {@code begin}, which must be {@link #end()}. The slice is kept: do not modify its bytes. */
    void append(Lsn begin, ByteSlice wal) {
        if (!begin.equals(end)) {
            throw new IllegalArgumentException("WAL at " + begin + " does not continue the buffer, which ends at " + end);
        }
        int skip = (int) Math.max(0, wal.length() - capacity);
        copyIn(begin.value() + skip, wal.backingArray(), wal.offset() + skip, wal.length() - skip);
        end = begin.plus(wal.length());
        lastBegin = begin;
        last = wal;
    }

    /** The oldest LSN held. */
    Lsn start() {
        long inRing = Math.max(first.value(), end.value() - capacity);
        return new Lsn(Math.min(inRing, lastBegin.value()));
    }

    Lsn end() {
        return end;
    }

    /**
     * {@code length} bytes from {@code from}, all within {@code [start(), end())}: a view of the
     * last appended slice when they lie within it, else a copy out of the ring.
     */
    ByteSlice read(Lsn from, int length) {
        long at = from.value();
        if (at < start().value() || at + length > end.value()) {
            throw new IllegalArgumentException("[" + from + ", +" + length + ") is not within [" + start() + ", "
                    + end + ")");
        }
        if (at >= lastBegin.value() && last != null) {
            return last.slice((int) (at - lastBegin.value()), length);
        }
        byte[] out = new byte[length];
        copyOut(at, out, length);
        return ByteSlice.of(out);
    }

    private void copyIn(long position, byte[] source, int offset, int length) {
        while (length > 0) {
            long ringOffset = Math.floorMod(position, capacity);
            int chunk = (int) (ringOffset / chunkBytes);
            if (chunks[chunk] == null) {
                chunks[chunk] = new byte[chunkSize(chunk)];
            }
            int within = (int) (ringOffset % chunkBytes);
            int n = Math.min(length, chunks[chunk].length - within);
            System.arraycopy(source, offset, chunks[chunk], within, n);
            position += n;
            offset += n;
            length -= n;
        }
    }

    private void copyOut(long position, byte[] target, int length) {
        int filled = 0;
        while (filled < length) {
            long ringOffset = Math.floorMod(position + filled, capacity);
            int chunk = (int) (ringOffset / chunkBytes);
            int within = (int) (ringOffset % chunkBytes);
            int n = Math.min(length - filled, chunks[chunk].length - within);
            System.arraycopy(chunks[chunk], within, target, filled, n);
            filled += n;
        }
    }

    private int chunkSize(int chunk) {
        return (int) Math.min(chunkBytes, capacity - (long) chunk * chunkBytes);
    }
}
