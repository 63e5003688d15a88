package dev.walkeeper.protocol;

import java.util.HexFormat;

/**
 * A WAL position (log sequence number): a byte offset into the WAL, an unsigned 64-bit integer.
 * Kept as a type of its own so positions are never mixed up with lengths, terms or counters, and
 * always ordered unsigned.
 */
public record Lsn(long value) implements Comparable<Lsn> {
    /** PostgreSQL's {@code InvalidXLogRecPtr}: "no position". */
    public static final Lsn INVALID = new Lsn(0);

    private static final int MAX_HALF_DIGITS = 8;

    /**
     * Parses PostgreSQL's text form {@code X/Y}: the high and low 32 bits, each 1 to 8 hex digits
     * of either case, nothing else (no sign, no spaces) — the rules of {@code pg_lsn_in}.
     *
     * @throws IllegalArgumentException when {@code text} is not of that form
     */
    public static Lsn parse(String text) {
        int slash = text.indexOf('/');
        if (slash < 0 || !isHalf(text, 0, slash) || !isHalf(text, slash + 1, text.length())) {
            throw new IllegalArgumentException("invalid LSN \"" + text + "\": expected X/Y in hex");
        }
        long high = Long.parseLong(text, 0, slash, 16);
        long low = Long.parseLong(text, slash + 1, text.length(), 16);
        return new Lsn(high << 32 | low);
    }

    private static boolean isHalf(String text, int from, int to) {
        if (to - from < 1 || to - from > MAX_HALF_DIGITS) {
            return false;
        }
        for (int i = from; i < to; i++) {
            if (!HexFormat.isHexDigit(text.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    /** {@code X/Y} as PostgreSQL prints it ({@code %X/%X}: upper case, no leading zeros). */
    @Override
    public String toString() {
        return String.format("%X/%X", value >>> 32, value & 0xFFFFFFFFL);
    }

    @Override
    public int compareTo(Lsn other) {
        return Long.compareUnsigned(value, other.value);
    }

    public boolean isValid() {
        return value != 0;
    }

    /**
     * This position moved by {@code delta} bytes (negative moves back).
     *
     * @throws ArithmeticException when the result leaves the unsigned 64-bit range
     */
    public Lsn plus(long delta) {
        long result = value + delta;
        boolean wrapped = delta >= 0 ? Long.compareUnsigned(result, value) < 0
                : Long.compareUnsigned(result, value) > 0;
        if (wrapped) {
            throw new ArithmeticException("LSN " + this + " + " + delta + " overflows");
        }
        return new Lsn(result);
    }

    /** The number of the WAL segment holding this position ({@code XLByteToSeg}). */
    public long segmentNumber(int walSegSize) {
        return Long.divideUnsigned(value, checkSegmentSize(walSegSize));
    }

    /** The byte offset of this position inside its segment ({@code XLogSegmentOffset}). */
    public int segmentOffset(int walSegSize) {
        return (int) (value & (checkSegmentSize(walSegSize) - 1));
    }

    /** Segment arithmetic by masking is only right for powers of two, which PostgreSQL requires anyway. */
    private static int checkSegmentSize(int walSegSize) {
        if (walSegSize <= 0 || Integer.bitCount(walSegSize) != 1) {
            throw new IllegalArgumentException("WAL segment size must be a power of two, got " + walSegSize);
        }
        return walSegSize;
    }

    public static Lsn max(Lsn a, Lsn b) {
        return a.compareTo(b) >= 0 ? a : b;
    }

    public static Lsn min(Lsn a, Lsn b) {
        return a.compareTo(b) <= 0 ? a : b;
    }
}
