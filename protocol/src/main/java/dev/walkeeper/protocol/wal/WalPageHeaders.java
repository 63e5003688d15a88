package dev.walkeeper.protocol.wal;

import static dev.walkeeper.protocol.wal.WalFormat.SIZE_OF_XLOG_LONG_PHD;
import static dev.walkeeper.protocol.wal.WalFormat.SIZE_OF_XLOG_SHORT_PHD;
import static dev.walkeeper.protocol.wal.WalFormat.XLOG_BLCKSZ;

import dev.walkeeper.protocol.Lsn;

/**
 * WAL page headers ({@code XLogPageHeaderData}, {@code XLogLongPageHeaderData}) as PostgreSQL
 * writes them on little-endian machines. Every 8 KiB WAL page begins with one; the first page of a
 * segment has the long form, which also names the cluster, segment size and page size, so a reader
 * can tell a segment of another cluster or build before trusting any record in it.
 *
 * <p>Short header (24 bytes): {@code xlp_magic u16, xlp_info u16, xlp_tli u32, xlp_pageaddr u64,
 * xlp_rem_len u32}, 4 bytes of padding. The long header adds {@code xlp_sysid u64,
 * xlp_seg_size u32, xlp_xlog_blcksz u32}.
 */
public final class WalPageHeaders {
    /** The page starts with the rest of a record begun on an earlier page. */
    public static final int XLP_FIRST_IS_CONTRECORD = 0x0001;
    /** The header is the long form; set exactly on the first page of each segment. */
    public static final int XLP_LONG_HEADER = 0x0002;
    /** Backup blocks starting on this page may be dropped by archivers (unused by PostgreSQL now). */
    public static final int XLP_BKP_REMOVABLE = 0x0004;
    /**
     * The record that was being continued here was lost in a crash; the page starts afresh with an
     * {@code XLOG_OVERWRITE_CONTRECORD} record, and readers must drop the incomplete one.
     */
    public static final int XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008;
    /** Every flag a valid header may carry ({@code XLP_ALL_FLAGS}). */
    public static final int XLP_ALL_FLAGS = 0x000F;

    static final int MAGIC = 0;
    static final int INFO = 2;
    static final int TLI = 4;
    static final int PAGEADDR = 8;
    static final int REM_LEN = 16;
    static final int SYSID = 24;
    static final int SEG_SIZE = 32;
    static final int XLOG_BLCKSZ_FIELD = 36;

    private WalPageHeaders() {
    }

    /** The size of the header of the page at {@code pageAddr}: long at segment starts, else short. */
    public static int size(WalFormat format, long pageAddr) {
        return (pageAddr & (format.walSegSize() - 1)) == 0 ? SIZE_OF_XLOG_LONG_PHD : SIZE_OF_XLOG_SHORT_PHD;
    }

    /**
     * The long header of the segment starting at {@code segmentStart}; {@link #XLP_LONG_HEADER} is
     * added to {@code flags}.
     *
     * @param remLen bytes of a record continued from the previous segment, with
     *     {@link #XLP_FIRST_IS_CONTRECORD}; 0 otherwise
     * @throws IllegalArgumentException if {@code segmentStart} is not the start of a segment
     */
    public static byte[] longHeader(WalFormat format, Lsn segmentStart, int flags, int remLen) {
        if (segmentStart.segmentOffset(format.walSegSize()) != 0) {
            throw new IllegalArgumentException(segmentStart + " is not the start of a segment");
        }
        byte[] header = new byte[SIZE_OF_XLOG_LONG_PHD];
        write(format, segmentStart.value(), flags, remLen, header, 0);
        return header;
    }

    /**
     * The short header of the page at {@code pageAddr}, which must not start a segment.
     *
     * @param remLen as in {@link #longHeader}
     * @throws IllegalArgumentException if {@code pageAddr} is not a page start or starts a segment
     */
    public static byte[] shortHeader(WalFormat format, Lsn pageAddr, int flags, int remLen) {
        if ((pageAddr.value() & (XLOG_BLCKSZ - 1)) != 0 || pageAddr.segmentOffset(format.walSegSize()) == 0) {
            throw new IllegalArgumentException(pageAddr + " is not a page start inside a segment");
        }
        byte[] header = new byte[SIZE_OF_XLOG_SHORT_PHD];
        write(format, pageAddr.value(), flags, remLen, header, 0);
        return header;
    }

    /**
     * The bytes that must precede WAL beginning at record boundary {@code start} in its segment —
     * all of the segment before {@code start} — so that PostgreSQL's reader accepts the segment.
     * Every page before {@code start} gets a header (a reader validates the segment's long header
     * before reading any page of it, and the header of the page it reads), and those headers mark
     * the space up to {@code start} as the tail of an earlier record: {@link #XLP_FIRST_IS_CONTRECORD}
     * with the {@code xlp_rem_len} that ends exactly at {@code start}. pg_waldump, which looks for
     * the first record by skipping such tails from the segment start, then finds the first record
     * at {@code start} (with the flag clear, it would look for a record right after the header and
     * find zeros). Empty when {@code start} is a segment start; when {@code start} is a page start,
     * its own page header is part of the WAL that follows, not of these bytes.
     *
     * @throws IllegalArgumentException if {@code start} cannot be a record boundary (not MAXALIGNed,
     *     or inside a page header)
     */
    public static byte[] initialSegmentBytes(WalFormat format, Lsn start) {
        requireRecordBoundary(format, start.value());
        int segmentOffset = start.segmentOffset(format.walSegSize());
        long segmentStart = start.value() - segmentOffset;
        byte[] bytes = new byte[segmentOffset];
        int pageOffset = segmentOffset % XLOG_BLCKSZ;
        int page = segmentOffset - pageOffset;
        long remaining = 0;
        if (pageOffset != 0) {
            remaining = pageOffset - size(format, segmentStart + page);
            write(format, segmentStart + page, remaining == 0 ? 0 : XLP_FIRST_IS_CONTRECORD, (int) remaining,
                    bytes, page);
        }
        for (page -= XLOG_BLCKSZ; page >= 0; page -= XLOG_BLCKSZ) {
            remaining += XLOG_BLCKSZ - size(format, segmentStart + page);
            write(format, segmentStart + page, XLP_FIRST_IS_CONTRECORD, (int) remaining, bytes, page);
        }
        return bytes;
    }

    /**
     * Writes the header of the page at {@code pageAddr} (long at a segment start) into {@code dst}.
     *
     * @return the header's size
     */
    static int write(WalFormat format, long pageAddr, int flags, int remLen, byte[] dst, int at) {
        boolean isLong = size(format, pageAddr) == SIZE_OF_XLOG_LONG_PHD;
        LittleEndian.putInt16(dst, at + MAGIC, format.pageMagic());
        LittleEndian.putInt16(dst, at + INFO, isLong ? flags | XLP_LONG_HEADER : flags);
        LittleEndian.putInt32(dst, at + TLI, format.timeline());
        LittleEndian.putInt64(dst, at + PAGEADDR, pageAddr);
        LittleEndian.putInt32(dst, at + REM_LEN, remLen);
        LittleEndian.putInt32(dst, at + REM_LEN + 4, 0);
        if (!isLong) {
            return SIZE_OF_XLOG_SHORT_PHD;
        }
        LittleEndian.putInt64(dst, at + SYSID, format.systemId());
        LittleEndian.putInt32(dst, at + SEG_SIZE, format.walSegSize());
        LittleEndian.putInt32(dst, at + XLOG_BLCKSZ_FIELD, XLOG_BLCKSZ);
        return SIZE_OF_XLOG_LONG_PHD;
    }

    /**
     * Checks that a record may start at {@code lsn}, or that it is a page start (the page's first
     * record follows its header).
     */
    static void requireRecordBoundary(WalFormat format, long lsn) {
        int pageOffset = (int) (lsn & (XLOG_BLCKSZ - 1));
        if ((lsn & (WalFormat.MAXIMUM_ALIGNOF - 1)) != 0
                || pageOffset != 0 && pageOffset < size(format, lsn - pageOffset)) {
            throw new IllegalArgumentException(new Lsn(lsn) + " cannot be a record boundary: records start"
                    + " MAXALIGNed, after the page header");
        }
    }
}
