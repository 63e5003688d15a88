package dev.walkeeper.protocol.replication;

import java.time.Instant;

/**
 * PostgreSQL's {@code TimestampTz} as the replication messages carry it: microseconds since
 * 2000-01-01 00:00:00 UTC, not since the Unix epoch. Kept in one place because an offset applied
 * twice or not at all is 30 years off and nothing fails.
 */
public final class PgTime {
    /**
     * 2000-01-01 00:00:00 UTC in µs since the Unix epoch:
     * {@code (POSTGRES_EPOCH_JDATE − UNIX_EPOCH_JDATE) · SECS_PER_DAY · USECS_PER_SEC}.
     */
    public static final long POSTGRES_EPOCH_IN_UNIX_MICROS = 946_684_800L * 1_000_000L;

    private static final long MICROS_PER_SECOND = 1_000_000L;
    private static final long POSTGRES_EPOCH_IN_UNIX_SECONDS = 946_684_800L;

    private PgTime() {}

    /**
     * {@code instant} in PostgreSQL µs, truncated to the microsecond (towards the past, as the
     * clock would have read it a moment earlier).
     *
     * @throws ArithmeticException when the instant lies too far from 2000 to fit in 64-bit µs
     *     (about ±292,000 years)
     */
    public static long fromInstant(Instant instant) {
        long seconds = Math.subtractExact(instant.getEpochSecond(), POSTGRES_EPOCH_IN_UNIX_SECONDS);
        long micros = instant.getNano() / 1000;
        if (seconds < 0 && micros > 0) {
            // As Instant.toEpochMilli: near the lower end, seconds · 10^6 alone would overflow.
            return Math.addExact(Math.multiplyExact(seconds + 1, MICROS_PER_SECOND), micros - MICROS_PER_SECOND);
        }
        return Math.addExact(Math.multiplyExact(seconds, MICROS_PER_SECOND), micros);
    }

    /** The instant of PostgreSQL µs {@code pgMicros}; every 64-bit value has one, so this never fails. */
    public static Instant toInstant(long pgMicros) {
        long seconds = Math.floorDiv(pgMicros, MICROS_PER_SECOND) + POSTGRES_EPOCH_IN_UNIX_SECONDS;
        return Instant.ofEpochSecond(seconds, Math.floorMod(pgMicros, MICROS_PER_SECOND) * 1000);
    }

    /**
     * PostgreSQL µs of µs since the Unix epoch.
     *
     * @throws ArithmeticException when the result leaves the 64-bit range
     */
    public static long fromUnixMicros(long unixMicros) {
        return Math.subtractExact(unixMicros, POSTGRES_EPOCH_IN_UNIX_MICROS);
    }

    /**
     * µs since the Unix epoch of PostgreSQL µs.
     *
     * @throws ArithmeticException when the result leaves the 64-bit range
     */
    public static long toUnixMicros(long pgMicros) {
        return Math.addExact(pgMicros, POSTGRES_EPOCH_IN_UNIX_MICROS);
    }
}
