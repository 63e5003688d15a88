package dev.walkeeper.protocol.wal;

/**
 * What a WAL byte stream must look like to be accepted as the WAL of one PostgreSQL cluster: the
 * server version (it fixes the page magic), the cluster's system identifier, its segment size and
 * the timeline being written. The layout constants are PostgreSQL's (names as in
 * {@code xlog_internal.h} and {@code xlogrecord.h}), fixed for every version supported here.
 *
 * @param pgVersion {@code PG_VERSION_NUM}, e.g. 150018 for 15.18
 * @param systemId the cluster's system identifier; 0 when unknown, which skips that check
 * @param walSegSize segment size in bytes: a power of two from 1 MiB to 1 GiB, as initdb allows
 * @param timeline PostgreSQL's timeline ID ({@code TimeLineID}), at least 1
 */
public record WalFormat(int pgVersion, long systemId, int walSegSize, int timeline) {
    public static final int XLOG_BLCKSZ = 8192;
    public static final int SIZE_OF_XLOG_SHORT_PHD = 24;
    public static final int SIZE_OF_XLOG_LONG_PHD = 40;
    public static final int SIZE_OF_XLOG_RECORD = 24;
    public static final int MAXIMUM_ALIGNOF = 8;

    /** {@code RM_XLOG_ID}: the resource manager of WAL housekeeping records. */
    public static final int RM_XLOG_ID = 0;
    /** {@code XLOG_NOOP}: a record that replay ignores, so any amount of it is harmless filler. */
    public static final int XLOG_NOOP = 0x20;
    /** {@code XLOG_SWITCH}: ends the segment early; the rest of it is padding. */
    public static final int XLOG_SWITCH = 0x40;
    /** {@code XLR_INFO_MASK}: the low bits of {@code xl_info} belong to xlog, the rest to the rmgr. */
    public static final int XLR_INFO_MASK = 0x0F;

    /** @throws IllegalArgumentException for an unsupported version, bad segment size or timeline 0 */
    public WalFormat {
        pageMagicOf(pgVersion);
        requireValidSegmentSize(walSegSize);
        if (timeline == 0) {
            throw new IllegalArgumentException("timeline 0 is not a valid PostgreSQL timeline");
        }
    }

    /** {@code PG_VERSION_NUM / 10000}, e.g. 15. */
    public int majorVersion() {
        return pgVersion / 10000;
    }

    /**
     * {@code XLOG_PAGE_MAGIC} of this version: PostgreSQL bumps it whenever the WAL format changes,
     * so it tells a reader that the bytes were written by a compatible server.
     */
    public int pageMagic() {
        return pageMagicOf(pgVersion);
    }

    /** Rounds {@code value} up to a multiple of 8, as {@code MAXALIGN}: records start aligned. */
    public static long maxAlign(long value) {
        return (value + MAXIMUM_ALIGNOF - 1) & -MAXIMUM_ALIGNOF;
    }

    /**
     * {@code IsValidWalSegSize}: segment arithmetic relies on it being a power of two.
     *
     * @throws IllegalArgumentException when {@code walSegSize} is not a power of two from 1 MiB to 1 GiB
     */
    public static void requireValidSegmentSize(int walSegSize) {
        if (Integer.bitCount(walSegSize) != 1 || walSegSize < (1 << 20) || walSegSize > (1 << 30)) {
            throw new IllegalArgumentException("WAL segment size must be a power of two from 1 MiB to 1 GiB, got "
                    + walSegSize);
        }
    }

    private static int pageMagicOf(int pgVersion) {
        return switch (pgVersion / 10000) {
            case 14 -> 0xD10D;
            case 15 -> 0xD110;
            case 16 -> 0xD113;
            case 17 -> 0xD116;
            default -> throw new IllegalArgumentException("unsupported PostgreSQL version " + pgVersion
                    + ": WAL page magic known for 14 to 17 only");
        };
    }
}
