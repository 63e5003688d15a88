package dev.walkeeper.persistence.wal;

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
import java.util.List;

/**
 * Reads the WAL a {@link SegmentedWalStore} keeps in one timeline directory, to serve it
 * ({@code START_REPLICATION}, {@code START_PUSH_REPLICATION}), in the chunks PostgreSQL's walsender
 * sends ({@code XLogSendPhysical}): see {@link #read(Lsn, Lsn, int)}.
 *
 * <p>It runs beside the store's writer, on another thread, over the files alone:
 * <ul>
 *   <li><b>Bounds come from the caller.</b> Segment files are full-size from their creation, so
 *       any offset in them reads, zeros where nothing was written yet; the caller passes the commit
 *       LSN (or, for peer recovery, the flush LSN) as the bound, which the writer has written
 *       already. WAL below the commit LSN is never truncated, so bytes read below it never change.</li>
 *   <li><b>Renames.</b> The writer renames {@code .partial} to the final name when it completes a
 *       segment, and back when a truncation or reopen cuts into it. An open file stays valid across
 *       a rename, so the one channel kept open (that of the segment last read) is used until the
 *       reading moves to another segment. Opening tries {@code .partial} (the file the store itself
 *       takes should both names exist), the final name, then {@code .partial} again, so a rename
 *       between two attempts cannot hide the file.</li>
 * </ul>
 * Segment files are looked up under PostgreSQL timeline 1, the only one walkeeper writes (its
 * {@code IDENTIFY_SYSTEM} reports it, and the node opens every store with it).
 *
 * <p>One reader per streaming connection; not thread-safe.
 */
public final class WalReader implements AutoCloseable {
    /**
     * The most WAL one chunk holds: PostgreSQL walsender's {@code MAX_SEND_SIZE}
     * ({@code XLOG_BLCKSZ · 16}), which Neon's safekeeper sends too.
     */
    public static final int MAX_SEND_SIZE = 16 * WalFormat.XLOG_BLCKSZ;

    private static final int TIMELINE = 1;

    private final Path dir;
    private final int walSegSize;
    /** The segment file last read, or null; {@link #openSegNo} is its number. */
    private FileChannel channel;
    private long openSegNo;
    private boolean closed;

    /**
     * @param timelineDir the directory a {@link SegmentedWalStore} writes the timeline's WAL into
     * @throws IllegalArgumentException when {@code walSegSize} is not a valid PostgreSQL segment size
     */
    public WalReader(Path timelineDir, int walSegSize) {
        WalFormat.requireValidSegmentSize(walSegSize);
        this.dir = timelineDir;
        this.walSegSize = walSegSize;
    }

    /** {@link #read(Lsn, Lsn, int)} with chunks of at most {@link #MAX_SEND_SIZE}. */
    public byte[] read(Lsn from, Lsn upTo) throws IOException {
        return read(from, upTo, MAX_SEND_SIZE);
    }

    /**
     * The next chunk of WAL from {@code from} towards {@code upTo}, as walsender cuts it:
     * <ul>
     *   <li>at most {@code maxBytes}, and never past the end of {@code from}'s segment, so one
     *       chunk comes from one file;</li>
     *   <li>up to {@code upTo} exactly when that is within those limits; otherwise cut at the last
     *       8 KiB page boundary they allow, so that a chunk not reaching the end never ends inside
     *       a page (and the next one starts on a page header).</li>
     * </ul>
     * Empty when {@code from == upTo}; never empty otherwise, since a page boundary always lies
     * within {@code maxBytes ≥ XLOG_BLCKSZ} (and the segment end is one).
     *
     * @param upTo the end of what may be sent, already written by the store: the commit LSN
     *     (the flush LSN for peer recovery)
     * @throws IllegalArgumentException if {@code from} is after {@code upTo}, or {@code maxBytes} is
     *     smaller than a page
     * @throws WalSegmentRemovedException if no file holds {@code from}'s segment
     * @throws IOException if the file cannot be read, or ends before the chunk does
     * @throws IllegalStateException if the reader is closed
     */
    public byte[] read(Lsn from, Lsn upTo, int maxBytes) throws IOException {
        byte[] chunk = new byte[chunkLength(from, upTo, maxBytes)];
        readInto(from, chunk, 0, chunk.length);
        return chunk;
    }

    /**
     * The length of the chunk {@link #read(Lsn, Lsn, int)} would return, without reading it: a
     * sender that frames the chunk itself sizes its message with it and then {@link #readInto}
     * the message's bytes directly (one copy of the WAL, from the file into the message).
     *
     * @throws IllegalArgumentException as {@link #read(Lsn, Lsn, int)}
     */
    public int chunkLength(Lsn from, Lsn upTo, int maxBytes) {
        if (maxBytes < WalFormat.XLOG_BLCKSZ) {
            throw new IllegalArgumentException("chunks of " + maxBytes + " bytes are smaller than a WAL page ("
                    + WalFormat.XLOG_BLCKSZ + ")");
        }
        if (from.compareTo(upTo) > 0) {
            throw new IllegalArgumentException("cannot read WAL from " + from + " up to " + upTo + ": it is before");
        }
        int offset = from.segmentOffset(walSegSize);
        int length = Math.min(maxBytes, walSegSize - offset);
        long available = upTo.value() - from.value();
        if (Long.compareUnsigned(available, length) <= 0) {
            return (int) available;
        }
        return length - (int) ((from.value() + length) & (WalFormat.XLOG_BLCKSZ - 1));
    }

    /**
     * Reads {@code length} bytes of WAL from {@code from} into {@code into} at {@code offset}.
     * The caller bounds them (by {@link #chunkLength}): below what the store has written, and not
     * across the end of {@code from}'s segment.
     *
     * @throws IllegalArgumentException if the bytes cross a segment end or do not fit {@code into}
     * @throws WalSegmentRemovedException if no file holds {@code from}'s segment
     * @throws IOException if the file cannot be read, or ends before the bytes do
     * @throws IllegalStateException if the reader is closed
     */
    public void readInto(Lsn from, byte[] into, int offset, int length) throws IOException {
        if (offset < 0 || length < 0 || offset > into.length - length) {
            throw new IllegalArgumentException("cannot read " + length + " bytes of WAL from " + from + " into "
                    + into.length + " bytes at " + offset);
        }
        readInto(from, ByteBuffer.wrap(into, offset, length));
    }

    /**
     * Reads WAL from {@code from} into {@code into}'s remaining bytes, bounded as
     * {@link #readInto(Lsn, byte[], int, int)}'s; its position ends at its limit. A direct buffer
     * is read into by the kernel itself (a heap one through a copy).
     *
     * @throws IllegalArgumentException if the bytes cross a segment end
     * @throws WalSegmentRemovedException if no file holds {@code from}'s segment
     * @throws IOException if the file cannot be read, or ends before the bytes do
     * @throws IllegalStateException if the reader is closed
     */
    public void readInto(Lsn from, ByteBuffer into) throws IOException {
        if (closed) {
            throw new IllegalStateException("WAL reader of " + dir + " is closed");
        }
        int segmentOffset = from.segmentOffset(walSegSize);
        if (into.remaining() > walSegSize - segmentOffset) {
            throw new IllegalArgumentException("cannot read " + into.remaining() + " bytes of WAL from " + from
                    + ": they cross the segment's end");
        }
        if (into.hasRemaining()) {
            readFully(channelFor(from.segmentNumber(walSegSize)), into, segmentOffset);
        }
    }

    /**
     * The start of the oldest segment file present, {@link Lsn#INVALID} if there is none: a
     * request before it asks for removed WAL. It is the segment's start even where the WAL in it
     * begins later (a timeline initialised mid-segment), as PostgreSQL judges by segment files too.
     * (Segment 0, whose start is {@link Lsn#INVALID}, never holds WAL: PostgreSQL's first is 1.)
     *
     * @throws IOException if the directory cannot be listed, or holds a segment name impossible for
     *     this segment size
     */
    public Lsn oldestAvailable() throws IOException {
        long oldest = -1;
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (!XLogFileName.isWalFileName(name) && !XLogFileName.isPartialWalFileName(name)
                        || XLogFileName.timeline(name) != TIMELINE) {
                    continue;
                }
                long segNo;
                try {
                    segNo = XLogFileName.segNo(name, walSegSize);
                } catch (IllegalArgumentException e) {
                    throw new IOException("unexpected WAL file " + file + " for " + walSegSize + "-byte segments", e);
                }
                if (oldest < 0 || segNo < oldest) {
                    oldest = segNo;
                }
            }
        } catch (NoSuchFileException e) {
            return Lsn.INVALID; // the timeline never stored WAL
        }
        return oldest < 0 ? Lsn.INVALID : new Lsn(oldest * walSegSize);
    }

    @Override
    public void close() throws IOException {
        closed = true;
        closeChannel();
    }

    private FileChannel channelFor(long segNo) throws IOException {
        if (channel != null && openSegNo == segNo) {
            return channel;
        }
        closeChannel();
        String name = XLogFileName.of(TIMELINE, segNo, walSegSize);
        Path partial = dir.resolve(name + XLogFileName.PARTIAL_SUFFIX);
        for (Path file : List.of(partial, dir.resolve(name), partial)) {
            try {
                channel = FileChannel.open(file, StandardOpenOption.READ);
                openSegNo = segNo;
                return channel;
            } catch (NoSuchFileException e) {
                // Renamed or removed: try the other name.
            }
        }
        throw new WalSegmentRemovedException(name);
    }

    private void readFully(FileChannel from, ByteBuffer into, int offset) throws IOException {
        int start = into.position();
        while (into.hasRemaining()) {
            int done = into.position() - start;
            if (from.read(into, offset + done) < 0) {
                throw new IOException("WAL segment file " + XLogFileName.of(TIMELINE, openSegNo, walSegSize) + " in "
                        + dir + " ends at offset " + (offset + done) + ", before the "
                        + (into.limit() - start) + " bytes wanted from offset " + offset);
            }
        }
    }

    private void closeChannel() throws IOException {
        FileChannel open = channel;
        channel = null;
        if (open != null) {
            open.close();
        }
    }
}
