package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalFormatException;
import dev.walkeeper.protocol.wal.WalPageHeaders;
import dev.walkeeper.protocol.wal.WalRecordScanner;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.NavigableMap;

/**
 * Finds the end of the WAL stored in a {@link SegmentedWalStore}'s segment files when it opens;
 * reads only, the store then fixes the files up ({@link SegmentDirectory#cutAt}).
 *
 * <p>The end is found from the WAL itself, by decoding records forward with a
 * {@link WalRecordScanner} (page headers, record headers, CRCs) up to the first invalid record, a
 * zero {@code xl_tot_len} or page header (never-written space), or a missing segment. Where the
 * decoding starts:
 * <ul>
 *   <li>never after the oldest {@code .partial} segment: a filled segment keeps that name until its
 *       fsync, so later segments may have reached the disk while it has holes; only decoding
 *       through it, CRC by CRC, proves it;</li>
 *   <li>at {@code scanFrom}, a record boundary the caller knows (its journaled flush checkpoint or
 *       commit LSN), when it is valid and its segment exists, and at least one record is found
 *       after it;</li>
 *   <li>otherwise at the first record boundary of the <em>last</em> segment that holds WAL, found as
 *       PostgreSQL's {@code XLogFindNextRecord} finds it: the first page's {@code xlp_rem_len}
 *       (page by page if needed) skips the tail of a record begun in the previous segment. If the
 *       segment holds nothing but such a tail, or no complete record follows the tail (so the tail
 *       itself is unproven: it may be torn), decoding starts in the previous segment instead. Only
 *       the last segment, or the last two, are read: O(one segment), whatever the WAL's length.
 *       A tail followed by valid records is trusted without its CRC (its start is in the previous
 *       segment): only an OS crash that lost a block in the middle of the tail while keeping the
 *       page headers around it and the records after it could fool this, so only WAL that had not
 *       been fsynced (nor acknowledged) before the crash.</li>
 * </ul>
 * A {@code scanFrom} followed by no record is not trusted, because a crash between a truncation
 * below it and the caller's journaling of a lower hint would leave it pointing into zeros past
 * the real end. A directory holding no segment whose first page header is set, or only the
 * headers of {@link SegmentedWalStore#initialize} without one complete record after them, has no
 * end: no record there was ever acknowledged, and the acceptor's journaled timeline start says
 * where WAL begins.
 */
final class WalEndScanner {
    private static final int READ_CHUNK = 128 * 1024;

    private final Path dir;
    private final WalFormat format;
    private final int segmentSize;

    WalEndScanner(Path dir, WalFormat format) {
        this.dir = dir;
        this.format = format;
        this.segmentSize = format.walSegSize();
    }

    /**
     * The end of the WAL in {@code segments} (as {@link SegmentDirectory#list} gives them), or -1
     * when they hold none.
     *
     * @throws IOException if the files cannot be read, or hold WAL but no record boundary
     * @throws IllegalArgumentException if {@code scanFrom} cannot be a record boundary
     */
    long findEnd(NavigableMap<Long, Path> segments, Lsn scanFrom) throws IOException {
        long end = -1;
        if (scanFrom.isValid()) {
            new WalRecordScanner(format, scanFrom); // a malformed hint is the caller's bug: fail loudly
            if (segments.containsKey(scanFrom.segmentNumber(segmentSize))) {
                Scan scan = scan(segments, scanFrom.value());
                if (scan.records > 0) {
                    end = scan.end;
                }
            }
        }
        if (end < 0) {
            end = endFromLastSegments(segments);
        }
        if (end >= 0 && end <= firstRecordOfOldestSegment(segments)) {
            // Headers from initialize() but not one complete record: nothing durable was ever
            // acknowledged from here, so this is an empty store, to be initialised again.
            end = -1;
        }
        return end;
    }

    /** The first record boundary of the oldest segment, or -1 when it has none. */
    private long firstRecordOfOldestSegment(NavigableMap<Long, Path> segments) throws IOException {
        Map.Entry<Long, Path> oldest = segments.firstEntry();
        return oldest == null ? -1 : firstRecord(oldest.getKey(), oldest.getValue()).lsn;
    }

    /**
     * The end of WAL decoded from the first record boundary of the last segment holding WAL, as
     * the class documentation describes; -1 if no segment holds WAL.
     */
    private long endFromLastSegments(NavigableMap<Long, Path> segments) throws IOException {
        long unproven = -1;
        boolean holdsWal = false;
        NavigableMap<Long, Path> candidates = segments;
        for (Map.Entry<Long, Path> entry : segments.entrySet()) {
            if (SegmentDirectory.isPartial(entry.getValue())) {
                candidates = segments.headMap(entry.getKey(), true);
                break;
            }
        }
        for (Map.Entry<Long, Path> entry : candidates.descendingMap().entrySet()) {
            long segNo = entry.getKey();
            FirstRecord first = firstRecord(segNo, entry.getValue());
            if (first == FirstRecord.NO_WAL) {
                continue;
            }
            holdsWal = true;
            if (first == FirstRecord.NONE) {
                continue;
            }
            Scan scan = scan(segments, first.lsn);
            if (scan.records > 0 || !first.afterTail || !segments.containsKey(segNo - 1)) {
                return scan.end;
            }
            if (unproven < 0) {
                unproven = scan.end;
            }
        }
        if (unproven >= 0) {
            return unproven;
        }
        if (holdsWal) {
            throw new IOException("WAL segments in " + dir + " hold WAL but no record boundary: " + segments.keySet());
        }
        return -1;
    }

    /** Where the first record of a segment begins; see {@link #firstRecord}. */
    private record FirstRecord(long lsn, boolean afterTail) {
        /** The first page header is all zeros: the segment was created but never written. */
        static final FirstRecord NO_WAL = new FirstRecord(-1, false);
        /** The segment holds WAL but no record starts in it (only a tail, or invalid headers). */
        static final FirstRecord NONE = new FirstRecord(-2, false);
    }

    /**
     * The first record boundary in segment {@code segNo}, found as {@code XLogFindNextRecord} does:
     * while a page starts with the tail of a record begun earlier ({@code XLP_FIRST_IS_CONTRECORD}),
     * {@code xlp_rem_len} tells how much of it is on the page; the first record starts after the
     * tail, MAXALIGNed, or after the header of the first page without the flag. Reads one page
     * header per page of the tail.
     */
    private FirstRecord firstRecord(long segNo, Path file) throws IOException {
        long segmentStart = segNo * segmentSize;
        ByteBuffer header = ByteBuffer.allocate(WalFormat.SIZE_OF_XLOG_LONG_PHD).order(ByteOrder.LITTLE_ENDIAN);
        boolean tailEndsHere = false;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            for (int page = 0; page < segmentSize; page += WalFormat.XLOG_BLCKSZ) {
                int headerSize = WalPageHeaders.size(format, segmentStart + page);
                Arrays.fill(header.array(), (byte) 0);
                header.clear().limit(headerSize);
                readFully(channel, header, page);
                boolean zero = isZero(header, headerSize);
                if (zero && page == 0) {
                    return FirstRecord.NO_WAL;
                }
                if (zero) {
                    // Never-written space: fine right after a tail that ended with the previous page.
                    return tailEndsHere ? new FirstRecord(segmentStart + page, true) : FirstRecord.NONE;
                }
                int magic = header.getShort(0) & 0xFFFF;
                int info = header.getShort(2) & 0xFFFF;
                long pageAddr = header.getLong(8);
                long remLen = header.getInt(16) & 0xFFFF_FFFFL;
                if (magic != format.pageMagic() || pageAddr != segmentStart + page) {
                    return FirstRecord.NONE;
                }
                if ((info & WalPageHeaders.XLP_FIRST_IS_CONTRECORD) == 0) {
                    // The scanner starts at the page start and checks this header itself.
                    return new FirstRecord(segmentStart + page, page > 0);
                }
                int space = WalFormat.XLOG_BLCKSZ - headerSize;
                if (remLen < space) {
                    return new FirstRecord(segmentStart + page + headerSize + WalFormat.maxAlign(remLen), true);
                }
                tailEndsHere = remLen == space;
            }
        }
        return tailEndsHere ? new FirstRecord(segmentStart + segmentSize, true) : FirstRecord.NONE;
    }

    private record Scan(long end, long records) {
    }

    /**
     * Decodes forward from record boundary {@code from} through consecutive segments, up to the
     * first invalid record, never-written space, a missing segment or a short file.
     */
    private Scan scan(NavigableMap<Long, Path> segments, long from) throws IOException {
        WalRecordScanner decoder = new WalRecordScanner(format, new Lsn(from));
        ByteBuffer buffer = ByteBuffer.allocate(READ_CHUNK);
        long position = from;
        scanning:
        for (;;) {
            long segNo = position / segmentSize;
            Path file = segments.get(segNo);
            if (file == null) {
                break;
            }
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                for (long offset = position - segNo * segmentSize; offset < segmentSize; ) {
                    int want = (int) Math.min(buffer.capacity(), segmentSize - offset);
                    buffer.clear().limit(want);
                    int got = readFully(channel, buffer, offset);
                    try {
                        decoder.feed(buffer.array(), 0, got);
                    } catch (WalFormatException e) {
                        break scanning;
                    }
                    if (decoder.atEndOfWal() || got < want) {
                        break scanning;
                    }
                    offset += got;
                    position += got;
                }
            }
        }
        return new Scan(decoder.lastRecordEnd().value(), decoder.recordCount());
    }

    /** Reads until the buffer is full or the file ends; returns the bytes read. */
    private static int readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        int start = buffer.position();
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position() - start) < 0) {
                break;
            }
        }
        return buffer.position() - start;
    }

    private static boolean isZero(ByteBuffer buffer, int length) {
        for (int i = 0; i < length; i++) {
            if (buffer.get(i) != 0) {
                return false;
            }
        }
        return true;
    }
}
