package dev.walkeeper.protocol.wal;

/**
 * WAL segment file names as PostgreSQL spells them ({@code XLogFileName}, {@code XLogFromFileName},
 * {@code IsXLogFileName}): timeline, then the segment number split into "log" and "seg" parts,
 * each as 8 upper-case hex digits. Our segment files carry these names so pg_waldump,
 * pg_receivewal and restore_command users can work on them directly.
 */
public final class XLogFileName {
    /** Length of a segment file name without suffix ({@code XLOG_FNAME_LEN}). */
    public static final int LENGTH = 24;
    /** Suffix of a segment that is still being written, as pg_receivewal names it. */
    public static final String PARTIAL_SUFFIX = ".partial";

    private XLogFileName() {
    }

    /** The name of segment {@code segNo} of {@code timeline}, e.g. {@code 000000010000000000000001}. */
    public static String of(int timeline, long segNo, int walSegSize) {
        long perId = segmentsPerXLogId(walSegSize);
        return String.format("%08X%08X%08X", timeline, Long.divideUnsigned(segNo, perId),
                Long.remainderUnsigned(segNo, perId));
    }

    /**
     * The segment number a name stands for; a {@value #PARTIAL_SUFFIX} suffix is allowed.
     *
     * @throws IllegalArgumentException if {@code name} is not a segment file name for this size
     */
    public static long segNo(String name, int walSegSize) {
        String base = stripPartial(name);
        if (!isWalFileName(base)) {
            throw new IllegalArgumentException("not a WAL segment file name: \"" + name + "\"");
        }
        long perId = segmentsPerXLogId(walSegSize);
        long log = Long.parseLong(base, 8, 16, 16);
        long seg = Long.parseLong(base, 16, 24, 16);
        if (seg >= perId) {
            throw new IllegalArgumentException("\"" + name + "\" names segment " + seg + " of a log, but "
                    + walSegSize + "-byte segments only go up to " + (perId - 1));
        }
        return log * perId + seg;
    }

    /**
     * The timeline a name belongs to; a {@value #PARTIAL_SUFFIX} suffix is allowed.
     *
     * @throws IllegalArgumentException if {@code name} is not a segment file name
     */
    public static int timeline(String name) {
        String base = stripPartial(name);
        if (!isWalFileName(base)) {
            throw new IllegalArgumentException("not a WAL segment file name: \"" + name + "\"");
        }
        return Integer.parseUnsignedInt(base, 0, 8, 16);
    }

    /** Whether {@code name} is exactly 24 upper-case hex digits, as {@code IsXLogFileName}. */
    public static boolean isWalFileName(String name) {
        if (name.length() != LENGTH) {
            return false;
        }
        for (int i = 0; i < LENGTH; i++) {
            char c = name.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'A' && c <= 'F')) {
                return false;
            }
        }
        return true;
    }

    /** Whether {@code name} is a segment file name followed by {@value #PARTIAL_SUFFIX}. */
    public static boolean isPartialWalFileName(String name) {
        return name.endsWith(PARTIAL_SUFFIX) && isWalFileName(stripPartial(name));
    }

    private static String stripPartial(String name) {
        return name.endsWith(PARTIAL_SUFFIX) ? name.substring(0, name.length() - PARTIAL_SUFFIX.length()) : name;
    }

    /** {@code XLogSegmentsPerXLogId}: how many segments one 4 GiB "log" holds. */
    private static long segmentsPerXLogId(int walSegSize) {
        WalFormat.requireValidSegmentSize(walSegSize);
        return 0x1_0000_0000L / walSegSize;
    }
}
