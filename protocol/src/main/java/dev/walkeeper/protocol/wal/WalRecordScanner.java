package dev.walkeeper.protocol.wal;

import static dev.walkeeper.protocol.wal.WalFormat.SIZE_OF_XLOG_LONG_PHD;
import static dev.walkeeper.protocol.wal.WalFormat.SIZE_OF_XLOG_RECORD;
import static dev.walkeeper.protocol.wal.WalFormat.XLOG_BLCKSZ;
import static dev.walkeeper.protocol.wal.WalPageHeaders.XLP_ALL_FLAGS;
import static dev.walkeeper.protocol.wal.WalPageHeaders.XLP_FIRST_IS_CONTRECORD;
import static dev.walkeeper.protocol.wal.WalPageHeaders.XLP_FIRST_IS_OVERWRITE_CONTRECORD;
import static dev.walkeeper.protocol.wal.WalPageHeaders.XLP_LONG_HEADER;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import java.util.Objects;
import java.util.zip.CRC32C;

/**
 * Finds record boundaries in a WAL byte stream fed in arbitrary pieces, checking the stream as
 * PostgreSQL's reader ({@code xlogreader.c}) would: page headers when their page begins, record
 * headers and CRCs when the record completes. An acceptor may only acknowledge WAL up to the end of
 * a complete, valid record, and must find where its stored WAL really ends after a crash; this
 * tells both without decoding what the records mean.
 *
 * <p>Checked: each page header's magic, info bits, {@code xlp_pageaddr} (equal to the page's own
 * LSN, which exposes recycled or misplaced segments), timeline (at most the format's, never going
 * back), and on a segment's first page the long header's system identifier (unless the format's is
 * 0), segment size and page size; {@link WalPageHeaders#XLP_FIRST_IS_CONTRECORD} and
 * {@code xlp_rem_len} exactly when and as a record continues on the page. Each record's
 * {@code xl_tot_len} (at least the header, at most {@link #MAX_RECORD_SIZE}), resource manager
 * ID, {@code xl_prev} (the previous record's start; before that is known, merely below the record's
 * own start) and CRC-32C.
 *
 * <p>The end of WAL: a zero {@code xl_tot_len} where a record should start, or an all-zero page
 * header, is how never-written (zero-filled, preallocated) space looks, so it sets
 * {@link #atEndOfWal()} instead of failing; a record left incomplete there is not a record. Bytes
 * fed afterwards are counted but not examined. For WAL streamed from a server, reaching the end of
 * WAL is itself an error for the caller to report: servers do not send zeros where records belong.
 *
 * <p>After an {@code XLOG_SWITCH} record the rest of its segment is padding (PostgreSQL even
 * zeroes the page headers there), skipped unexamined; the record's end, as PostgreSQL reports it,
 * is the next segment's start. A page flagged {@link WalPageHeaders#XLP_FIRST_IS_OVERWRITE_CONTRECORD}
 * drops the record it interrupts, as PostgreSQL's reader does after crash recovery overwrote the
 * lost rest of it.
 *
 * <p>Memory stays constant whatever the record sizes: the CRC is computed as the bytes pass, so
 * only the 24-byte record header and the current page header are kept — no length read from the
 * stream ever sizes an allocation. Feeding allocates nothing (unless a {@link RecordListener} is
 * given: then two {@link Lsn}s per record).
 *
 * <p>Once a {@link WalFormatException} was thrown the scanner stays failed: every further
 * {@link #feed} throws it again. Not thread-safe.
 */
public final class WalRecordScanner {
    /**
     * The largest {@code xl_tot_len} accepted: PostgreSQL's reader cannot allocate more
     * ({@code MaxAllocSize}), and its writer stays below that ({@code XLogRecordMaxSize}).
     */
    public static final int MAX_RECORD_SIZE = 0x3FFF_FFFF;

    /** {@code RM_MAX_BUILTIN_ID} of PostgreSQL 14 to 17 ({@code RM_LOGICALMSG_ID}). */
    private static final int RM_MAX_BUILTIN_ID = 21;
    /** {@code RM_MIN_CUSTOM_ID}: extension resource managers, from PostgreSQL 15 on. */
    private static final int RM_MIN_CUSTOM_ID = 128;

    private static final int PAGE_MASK = XLOG_BLCKSZ - 1;
    private static final int XL_TOT_LEN = 0;
    private static final int XL_PREV = 8;
    private static final int XL_INFO = 16;
    private static final int XL_RMID = 17;
    private static final int XL_CRC = 20;

    /** Told each complete, valid record, in order. */
    @FunctionalInterface
    public interface RecordListener {
        /**
         * @param start where the record begins
         * @param end where the next record may begin, as {@link #lastRecordEnd()} reports it
         */
        void onRecord(Lsn start, Lsn end);
    }

    private enum State { PAGE_HEADER, RECORD_HEADER, RECORD_BODY, SKIP, END_OF_WAL, FAILED }

    private final WalFormat format;
    private final int pageMagic;
    private final long segmentMask;
    private final RecordListener listener;
    private final CRC32C crc = new CRC32C();
    private final byte[] pageHeader = new byte[SIZE_OF_XLOG_LONG_PHD];
    private final byte[] recordHeader = new byte[SIZE_OF_XLOG_RECORD];

    private State state = State.RECORD_HEADER;
    private long position;
    private int pageHeaderSize;
    private int pageHeaderGot;
    private int lastPageTimeline;
    /** Start of the record being read; its header and body bytes seen so far; its length once known. */
    private long recordStart;
    private int recordGot;
    private int totalLength;
    private long skipTo;
    /** 0 while no record has completed: LSN 0 is inside a page header, never a record start. */
    private long lastRecordStart;
    private long lastRecordEnd;
    private long recordCount;
    private WalFormatException failure;

    /**
     * A scanner for WAL beginning at {@code start}, which must be a record boundary: where a record
     * starts, or the start of a page (or segment) whose first record follows its header.
     *
     * @throws IllegalArgumentException if {@code start} cannot be a record boundary
     */
    public WalRecordScanner(WalFormat format, Lsn start) {
        this(format, start, null);
    }

    /** As {@link #WalRecordScanner(WalFormat, Lsn)}, telling {@code listener} (if not null) each record. */
    public WalRecordScanner(WalFormat format, Lsn start, RecordListener listener) {
        this.format = Objects.requireNonNull(format);
        WalPageHeaders.requireRecordBoundary(format, start.value());
        this.pageMagic = format.pageMagic();
        this.segmentMask = format.walSegSize() - 1L;
        this.listener = listener;
        this.position = start.value();
        this.lastRecordEnd = start.value();
    }

    /**
     * Takes the next bytes of the stream, which continue exactly at {@link #position()}; the array
     * is not kept.
     *
     * @throws WalFormatException if the bytes are not valid WAL, now or in an earlier call
     */
    public void feed(byte[] bytes) {
        feed(bytes, 0, bytes.length);
    }

    /** As {@link #feed(byte[])}, for the bytes of {@code slice}, read in place. */
    public void feed(ByteSlice slice) {
        feed(slice.backingArray(), slice.offset(), slice.length());
    }

    /** As {@link #feed(byte[])}, for {@code length} bytes of {@code bytes} from {@code offset}. */
    public void feed(byte[] bytes, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, bytes.length);
        int i = offset;
        int end = offset + length;
        while (i < end) {
            i = switch (state) {
                case PAGE_HEADER -> readPageHeader(bytes, i, end);
                case RECORD_HEADER -> readRecordHeader(bytes, i, end);
                case RECORD_BODY -> readRecordBody(bytes, i, end);
                case SKIP -> skip(i, end);
                case END_OF_WAL -> {
                    position += end - i;
                    yield end;
                }
                case FAILED -> throw failure;
            };
        }
    }

    /** The end of the bytes fed so far. */
    public Lsn position() {
        return new Lsn(position);
    }

    /**
     * The end of the last complete, valid record, MAXALIGNed as PostgreSQL reports record ends (a
     * page boundary stays the boundary, not the first record position after the next header); the
     * next segment's start after an {@code XLOG_SWITCH}. The start position until a record completes.
     */
    public Lsn lastRecordEnd() {
        return new Lsn(lastRecordEnd);
    }

    /** The start of the last complete, valid record; {@link Lsn#INVALID} until one completes. */
    public Lsn lastRecordStart() {
        return new Lsn(lastRecordStart);
    }

    /** How many complete, valid records were found. */
    public long recordCount() {
        return recordCount;
    }

    /** Whether never-written space was reached where the next record or page should begin. */
    public boolean atEndOfWal() {
        return state == State.END_OF_WAL;
    }

    private int readPageHeader(byte[] bytes, int i, int end) {
        int n = Math.min(end - i, pageHeaderSize - pageHeaderGot);
        System.arraycopy(bytes, i, pageHeader, pageHeaderGot, n);
        pageHeaderGot += n;
        position += n;
        if (pageHeaderGot == pageHeaderSize) {
            checkPageHeader(position - pageHeaderSize);
        }
        return i + n;
    }

    private void checkPageHeader(long page) {
        if (isZero(pageHeader, pageHeaderSize)) {
            state = State.END_OF_WAL;
            return;
        }
        int magic = LittleEndian.uint16(pageHeader, WalPageHeaders.MAGIC);
        if (magic != pageMagic) {
            fail(page, String.format("invalid magic number %04X in page header (expected %04X for PostgreSQL %d)",
                    magic, pageMagic, format.majorVersion()));
        }
        int info = LittleEndian.uint16(pageHeader, WalPageHeaders.INFO);
        boolean segmentStart = pageHeaderSize == SIZE_OF_XLOG_LONG_PHD;
        if ((info & ~XLP_ALL_FLAGS) != 0 || ((info & XLP_LONG_HEADER) != 0) != segmentStart) {
            fail(page, String.format("invalid info bits %04X in %s page header", info,
                    segmentStart ? "a segment's first" : "a non-first"));
        }
        long pageAddr = LittleEndian.int64(pageHeader, WalPageHeaders.PAGEADDR);
        if (pageAddr != page) {
            fail(page, "unexpected pageaddr " + new Lsn(pageAddr) + " in page header");
        }
        int timeline = LittleEndian.int32(pageHeader, WalPageHeaders.TLI);
        if (timeline == 0 || Integer.compareUnsigned(timeline, format.timeline()) > 0
                || Integer.compareUnsigned(timeline, lastPageTimeline) < 0) {
            fail(page, "page of timeline " + Integer.toUnsignedString(timeline) + " in WAL of timeline "
                    + format.timeline() + " after a page of timeline " + lastPageTimeline);
        }
        if (segmentStart) {
            checkLongHeader(page);
        }
        long remLen = LittleEndian.int32(pageHeader, WalPageHeaders.REM_LEN) & 0xFFFF_FFFFL;
        if (recordGot > 0 && (info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) != 0) {
            recordGot = 0;
        }
        if (recordGot > 0) {
            long expected = totalLength - recordGot;
            if ((info & XLP_FIRST_IS_CONTRECORD) == 0) {
                fail(page, "no contrecord flag on a page continuing the record at " + new Lsn(recordStart));
            }
            if (remLen != expected) {
                fail(page, "invalid contrecord length " + remLen + " (expected " + expected + ") continuing the"
                        + " record at " + new Lsn(recordStart));
            }
        } else if ((info & XLP_FIRST_IS_CONTRECORD) != 0 || remLen != 0) {
            fail(page, "contrecord flag or xlp_rem_len " + remLen + " on a page where a record starts");
        }
        lastPageTimeline = timeline;
        state = recordGot < SIZE_OF_XLOG_RECORD ? State.RECORD_HEADER : State.RECORD_BODY;
    }

    private void checkLongHeader(long page) {
        long systemId = LittleEndian.int64(pageHeader, WalPageHeaders.SYSID);
        if (format.systemId() != 0 && systemId != format.systemId()) {
            fail(page, "WAL of another database system: system identifier " + Long.toUnsignedString(systemId)
                    + ", expected " + Long.toUnsignedString(format.systemId()));
        }
        int segSize = LittleEndian.int32(pageHeader, WalPageHeaders.SEG_SIZE);
        if (segSize != format.walSegSize()) {
            fail(page, "WAL segment size " + Integer.toUnsignedString(segSize) + " in page header, expected "
                    + format.walSegSize());
        }
        int blcksz = LittleEndian.int32(pageHeader, WalPageHeaders.XLOG_BLCKSZ_FIELD);
        if (blcksz != XLOG_BLCKSZ) {
            fail(page, "XLOG_BLCKSZ " + Integer.toUnsignedString(blcksz) + " in page header, expected " + XLOG_BLCKSZ);
        }
    }

    private int readRecordHeader(byte[] bytes, int i, int end) {
        if ((position & PAGE_MASK) == 0) {
            beginPageHeader();
            return i;
        }
        if (recordGot == 0) {
            recordStart = position;
            crc.reset();
        }
        int n = Math.min(Math.min(end - i, SIZE_OF_XLOG_RECORD - recordGot), XLOG_BLCKSZ - (int) (position & PAGE_MASK));
        System.arraycopy(bytes, i, recordHeader, recordGot, n);
        int before = recordGot;
        recordGot += n;
        position += n;
        // xl_tot_len is never split: records start MAXALIGNed, so 8 bytes at least are on the first page.
        if (before < 4 && recordGot >= 4 && !checkTotalLength()) {
            return i + n;
        }
        if (recordGot == SIZE_OF_XLOG_RECORD) {
            checkRecordHeader();
            if (totalLength == SIZE_OF_XLOG_RECORD) {
                completeRecord();
            } else {
                state = State.RECORD_BODY;
            }
        }
        return i + n;
    }

    /** @return false at the end of WAL */
    private boolean checkTotalLength() {
        int length = LittleEndian.int32(recordHeader, XL_TOT_LEN);
        if (length == 0) {
            recordGot = 0;
            state = State.END_OF_WAL;
            return false;
        }
        if (Integer.compareUnsigned(length, SIZE_OF_XLOG_RECORD) < 0) {
            fail(recordStart, "invalid record length: expected at least " + SIZE_OF_XLOG_RECORD + ", got " + length);
        }
        if (Integer.compareUnsigned(length, MAX_RECORD_SIZE) > 0) {
            fail(recordStart, "record length " + Integer.toUnsignedString(length) + " exceeds the maximum of "
                    + MAX_RECORD_SIZE);
        }
        totalLength = length;
        return true;
    }

    private void checkRecordHeader() {
        int rmid = recordHeader[XL_RMID] & 0xFF;
        if (rmid > RM_MAX_BUILTIN_ID && (rmid < RM_MIN_CUSTOM_ID || format.majorVersion() < 15)) {
            fail(recordStart, "invalid resource manager ID " + rmid);
        }
        long prev = LittleEndian.int64(recordHeader, XL_PREV);
        boolean prevValid = lastRecordStart != 0 ? prev == lastRecordStart
                : Long.compareUnsigned(prev, recordStart) < 0;
        if (!prevValid) {
            fail(recordStart, "record with incorrect prev-link " + new Lsn(prev) + (lastRecordStart != 0
                    ? " (expected " + new Lsn(lastRecordStart) + ")" : ""));
        }
    }

    private int readRecordBody(byte[] bytes, int i, int end) {
        if ((position & PAGE_MASK) == 0) {
            beginPageHeader();
            return i;
        }
        int n = Math.min(Math.min(end - i, totalLength - recordGot), XLOG_BLCKSZ - (int) (position & PAGE_MASK));
        crc.update(bytes, i, n);
        recordGot += n;
        position += n;
        if (recordGot == totalLength) {
            completeRecord();
        }
        return i + n;
    }

    /** Checks the CRC ({@code ValidXLogRecord}: the data after the header first, then the header up to xl_crc). */
    private void completeRecord() {
        crc.update(recordHeader, 0, XL_CRC);
        int computed = (int) crc.getValue();
        int stored = LittleEndian.int32(recordHeader, XL_CRC);
        if (computed != stored) {
            fail(recordStart, String.format("incorrect resource manager data checksum in record: stored %08X,"
                    + " computed %08X", stored, computed));
        }
        boolean isSwitch = (recordHeader[XL_RMID] & 0xFF) == WalFormat.RM_XLOG_ID
                && (recordHeader[XL_INFO] & ~WalFormat.XLR_INFO_MASK & 0xFF) == WalFormat.XLOG_SWITCH;
        long end = isSwitch ? (position + segmentMask) & ~segmentMask : WalFormat.maxAlign(position);
        lastRecordStart = recordStart;
        lastRecordEnd = end;
        recordCount++;
        recordGot = 0;
        if (end == position) {
            state = State.RECORD_HEADER;
        } else {
            skipTo = end;
            state = State.SKIP;
        }
        if (listener != null) {
            listener.onRecord(new Lsn(recordStart), new Lsn(end));
        }
    }

    /** Alignment padding after a record, or the rest of the segment after XLOG_SWITCH: not examined. */
    private int skip(int i, int end) {
        int n = (int) Math.min(end - i, skipTo - position);
        position += n;
        if (position == skipTo) {
            state = State.RECORD_HEADER;
        }
        return i + n;
    }

    private void beginPageHeader() {
        pageHeaderSize = WalPageHeaders.size(format, position);
        pageHeaderGot = 0;
        state = State.PAGE_HEADER;
    }

    private void fail(long lsn, String problem) {
        failure = new WalFormatException(new Lsn(lsn), problem);
        state = State.FAILED;
        throw failure;
    }

    private static boolean isZero(byte[] bytes, int length) {
        for (int i = 0; i < length; i++) {
            if (bytes[i] != 0) {
                return false;
            }
        }
        return true;
    }
}
