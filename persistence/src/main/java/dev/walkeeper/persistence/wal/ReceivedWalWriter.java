package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The downstream's copy of WAL pushed to it ({@code START_PUSH_REPLICATION}): bytes at their LSNs
 * in PostgreSQL-named segment files, as pg_receivewal keeps them, so the directory serves
 * {@code pg_waldump} and a {@code restore_command} as it is.
 *
 * <h2>Files</h2>
 * One file per segment, named as PostgreSQL names it on timeline 1 ({@link XLogFileName}); every
 * file is full size. The segment being written is {@code <name>.partial}; once its last byte is
 * written it is fsynced and renamed to its final name, so a final name always means a complete,
 * durable segment. New segments are created as {@code <name>.tmp}, sized, fsynced, renamed to
 * {@code .partial}, and the directory fsynced.
 *
 * <h2>Positions</h2>
 * The bytes are copied, not decoded: whatever the pusher committed is stored byte for byte.
 * <ul>
 *   <li>{@link #writeLsn()}: end of the bytes written; {@link #flushLsn()}: end of the bytes made
 *       durable by {@link #flush()} (or found on open), which is what a status update may report.</li>
 *   <li><b>Idempotent by LSN</b>: {@link #write} of bytes below {@code writeLsn} compares them
 *       with what is stored and skips them (a mismatch is {@link WalMismatchException}: the pusher's
 *       WAL diverges from ours, which committed WAL never does); only the part from
 *       {@code writeLsn} on is written. Bytes after {@code writeLsn} never arrive first: a write
 *       that starts beyond it is refused with {@link WalGapException}.</li>
 *   <li>An empty directory accepts its first bytes only at a segment start (the pusher starts
 *       at the oldest WAL it holds, aligned to a segment), so every segment file begins with its
 *       long page header.</li>
 * </ul>
 *
 * <h2>After a restart</h2>
 * A preallocated {@code .partial} file does not tell how far it was fsynced, so {@link #open}
 * takes as durable end the start of the {@code .partial} segment, or the end of the last complete
 * segment when there is none — exactly where pg_receivewal restarts. The pusher then re-sends that
 * segment's bytes, which overwrite the possibly torn ones. A writer kept open across pushes
 * (the downstream's registry keeps one per timeline) knows its end exactly.
 *
 * <p>Not thread-safe: one push session at a time uses it.
 */
public final class ReceivedWalWriter implements AutoCloseable {
    private static final int TIMELINE = 1;
    private static final int VERIFY_CHUNK = 64 * 1024;

    private final Path dir;
    private final int segmentSize;
    /** End of the bytes written; 0 while the directory holds nothing. */
    private long writeLsn;
    private long flushLsn;
    /** The {@code .partial} segment being written, or null. */
    private FileChannel current;
    private long currentSegNo = -1;
    private boolean dirty;
    private boolean closed;

    private ReceivedWalWriter(Path dir, int segmentSize) {
        this.dir = dir;
        this.segmentSize = segmentSize;
    }

    /**
     * Opens (creating it if missing) the directory and finds its durable end, as the class
     * documentation describes; leftover {@code .tmp} files are deleted.
     *
     * @throws IOException if the directory cannot be read, holds a file of the wrong size for
     *     {@code walSegSize}, or a complete segment after a {@code .partial} one (files this writer
     *     never leaves behind: someone else wrote here)
     * @throws IllegalArgumentException for an invalid segment size
     */
    public static ReceivedWalWriter open(Path dir, int walSegSize) throws IOException {
        WalFormat.requireValidSegmentSize(walSegSize);
        Path absolute = dir.toAbsolutePath().normalize();
        Files.createDirectories(absolute);
        ReceivedWalWriter writer = new ReceivedWalWriter(absolute, walSegSize);
        writer.recover();
        return writer;
    }

    public Path directory() {
        return dir;
    }

    public int segmentSize() {
        return segmentSize;
    }

    /** True while the directory holds no WAL. */
    public boolean isEmpty() {
        return writeLsn == 0;
    }

    /**
     * Where the pusher should start ({@code 'i'}): the durable end, {@link Lsn#INVALID} when the
     * directory holds nothing.
     */
    public Lsn startLsn() {
        return flushLsn();
    }

    /** End of the bytes written; {@link Lsn#INVALID} when nothing is stored. */
    public Lsn writeLsn() {
        return new Lsn(writeLsn);
    }

    /** End of the bytes known durable; {@link Lsn#INVALID} when nothing is stored. */
    public Lsn flushLsn() {
        return new Lsn(flushLsn);
    }

    /**
     * Stores {@code bytes} at {@code begin}, idempotently: the part below {@link #writeLsn()} is
     * compared with the stored bytes and skipped, the rest appended (no fsync).
     *
     * @return the number of bytes appended (0 for a complete re-push)
     * @throws WalGapException if {@code begin} is after {@link #writeLsn()}, or the directory is
     *     empty and {@code begin} is not a segment start (or is {@link Lsn#INVALID})
     * @throws WalMismatchException if re-pushed bytes differ from the stored ones
     * @throws IOException if a file cannot be read or written
     */
    public long write(Lsn begin, ByteSlice bytes) throws IOException {
        requireOpen();
        long start = begin.value();
        long end = begin.plus(bytes.length()).value();
        if (writeLsn == 0 && bytes.isEmpty()) {
            return 0;
        }
        if (writeLsn == 0) {
            if (start == 0 || begin.segmentOffset(segmentSize) != 0) {
                throw new WalGapException("the first WAL pushed into " + dir + " must start at a segment boundary,"
                        + " not at " + begin);
            }
            writeLsn = start;
            flushLsn = start;
        } else if (Long.compareUnsigned(start, writeLsn) > 0) {
            throw new WalGapException("WAL pushed from " + begin + " would leave a gap after " + writeLsn()
                    + " in " + dir);
        }
        int skip = (int) Math.min(bytes.length(), writeLsn - start);
        if (skip > 0) {
            verify(start, bytes, skip);
        }
        if (skip == bytes.length()) {
            return 0;
        }
        append(bytes, skip, end);
        return bytes.length() - skip;
    }

    /**
     * Makes everything written durable (fdatasync of the open segment; completed segments were
     * synced when completed).
     *
     * @return the new {@link #flushLsn()}
     */
    public Lsn flush() throws IOException {
        requireOpen();
        if (current != null && dirty) {
            current.force(false);
            dirty = false;
        }
        flushLsn = writeLsn;
        return flushLsn();
    }

    /** Closes the open segment without fsync: what {@link #flush()} did not cover may be lost. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        closeCurrent();
    }

    @Override
    public String toString() {
        return "ReceivedWalWriter[" + dir + ", write " + writeLsn() + ", flush " + flushLsn() + "]";
    }

    // ---- recovery --------------------------------------------------------------------------------

    private void recover() throws IOException {
        SegmentFiles.deleteTempFiles(dir);
        NavigableMap<Long, Boolean> segments = listSegments(); // segNo → is partial
        if (segments.isEmpty()) {
            return;
        }
        Long firstPartial = segments.entrySet().stream().filter(e -> e.getValue()).map(e -> e.getKey())
                .findFirst().orElse(null);
        long end;
        if (firstPartial != null) {
            for (var later : segments.tailMap(firstPartial, false).entrySet()) {
                if (!later.getValue()) {
                    throw new IOException("complete segment " + name(later.getKey()) + " follows the partial segment "
                            + name(firstPartial) + XLogFileName.PARTIAL_SUFFIX + " in " + dir
                            + ": this directory was not written by a WAL push alone");
                }
                // A later partial segment cannot hold durable bytes when an earlier one is still
                // partial; it is re-pushed and rewritten.
                Files.delete(partialPath(later.getKey()));
            }
            end = firstPartial * segmentSize;
        } else {
            end = (segments.lastKey() + 1) * segmentSize;
        }
        writeLsn = end;
        flushLsn = end;
    }

    private NavigableMap<Long, Boolean> listSegments() throws IOException {
        NavigableMap<Long, Boolean> segments = new TreeMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                String fileName = file.getFileName().toString();
                boolean partial = XLogFileName.isPartialWalFileName(fileName);
                if (!partial && !XLogFileName.isWalFileName(fileName) || XLogFileName.timeline(fileName) != TIMELINE) {
                    continue;
                }
                long segNo;
                try {
                    segNo = XLogFileName.segNo(fileName, segmentSize);
                } catch (IllegalArgumentException e) {
                    throw new IOException("unexpected WAL file " + file + " for " + segmentSize + "-byte segments", e);
                }
                if (Files.size(file) != segmentSize) {
                    throw new IOException("WAL file " + file + " has " + Files.size(file) + " bytes, not the segment size "
                            + segmentSize);
                }
                if (segments.containsKey(segNo)) {
                    // Both names: the rename to the final name was not durable; the final one is
                    // complete (it got its name after its fsync), the other a stale copy.
                    Files.delete(partialPath(segNo));
                    segments.put(segNo, false);
                } else {
                    segments.put(segNo, partial);
                }
            }
        }
        return segments;
    }

    // ---- writing ---------------------------------------------------------------------------------

    /** Writes {@code bytes[from..]} at {@link #writeLsn}, segment by segment. */
    private void append(ByteSlice bytes, int from, long end) throws IOException {
        int done = from;
        while (done < bytes.length()) {
            long segNo = Long.divideUnsigned(writeLsn, segmentSize);
            int offset = (int) Long.remainderUnsigned(writeLsn, segmentSize);
            int n = Math.min(bytes.length() - done, segmentSize - offset);
            FileChannel channel = channelFor(segNo);
            SegmentFiles.writeFully(channel, ByteBuffer.wrap(bytes.backingArray(), bytes.offset() + done, n), offset);
            dirty = true;
            done += n;
            writeLsn += n;
            if (offset + n == segmentSize) {
                completeCurrent();
            }
        }
        assert writeLsn == end;
    }

    /** The open {@code .partial} file of {@code segNo}, created (durably) if it does not exist. */
    private FileChannel channelFor(long segNo) throws IOException {
        if (current != null && currentSegNo == segNo) {
            return current;
        }
        closeCurrent();
        Path partial = partialPath(segNo);
        if (!Files.exists(partial)) {
            SegmentFiles.createPreallocated(dir, name(segNo), segmentSize);
        }
        current = FileChannel.open(partial, StandardOpenOption.READ, StandardOpenOption.WRITE);
        currentSegNo = segNo;
        dirty = false;
        return current;
    }

    /** fdatasync, close and give the filled segment its final name. */
    private void completeCurrent() throws IOException {
        long segNo = currentSegNo;
        try {
            current.force(false);
        } finally {
            closeCurrent();
        }
        SegmentFiles.complete(dir, partialPath(segNo), finalPath(segNo));
    }

    private void closeCurrent() throws IOException {
        FileChannel open = current;
        current = null;
        currentSegNo = -1;
        dirty = false;
        if (open != null) {
            open.close();
        }
    }

    // ---- verifying re-pushed bytes ---------------------------------------------------------------

    /** Compares {@code bytes[0..length)} with the stored bytes from {@code start}. */
    private void verify(long start, ByteSlice bytes, int length) throws IOException {
        int done = 0;
        ByteBuffer stored = ByteBuffer.allocate(Math.min(VERIFY_CHUNK, length));
        while (done < length) {
            long position = start + done;
            long segNo = Long.divideUnsigned(position, segmentSize);
            int offset = (int) Long.remainderUnsigned(position, segmentSize);
            int n = Math.min(Math.min(length - done, segmentSize - offset), stored.capacity());
            stored.clear().limit(n);
            readStored(segNo, stored, offset);
            int from = bytes.offset() + done;
            int mismatch = Arrays.mismatch(stored.array(), 0, n, bytes.backingArray(), from, from + n);
            if (mismatch >= 0) {
                throw new WalMismatchException("WAL pushed again at " + new Lsn(position + mismatch)
                        + " differs from the WAL stored there in " + dir);
            }
            done += n;
        }
    }

    private void readStored(long segNo, ByteBuffer into, int offset) throws IOException {
        if (current != null && currentSegNo == segNo) {
            readFully(current, into, offset, segNo);
            return;
        }
        for (Path file : new Path[] {finalPath(segNo), partialPath(segNo)}) {
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                readFully(channel, into, offset, segNo);
                return;
            } catch (NoSuchFileException e) {
                // try the other name
            }
        }
        throw new WalSegmentRemovedException(name(segNo));
    }

    private void readFully(FileChannel channel, ByteBuffer into, int offset, long segNo) throws IOException {
        int start = into.position();
        while (into.hasRemaining()) {
            if (channel.read(into, offset + into.position() - start) < 0) {
                throw new IOException("WAL segment " + name(segNo) + " in " + dir + " is shorter than a segment");
            }
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private String name(long segNo) {
        return XLogFileName.of(TIMELINE, segNo, segmentSize);
    }

    private Path finalPath(long segNo) {
        return dir.resolve(name(segNo));
    }

    private Path partialPath(long segNo) {
        return dir.resolve(name(segNo) + XLogFileName.PARTIAL_SUFFIX);
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("received WAL writer of " + dir + " is closed");
        }
    }

}
