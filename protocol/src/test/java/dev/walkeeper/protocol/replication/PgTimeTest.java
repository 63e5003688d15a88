package dev.walkeeper.protocol.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Instant;
import org.junit.jupiter.api.Test;

class PgTimeTest {

    @Test
    void postgresEpochIsZero() {
        assertEquals(0, PgTime.fromInstant(Instant.parse("2000-01-01T00:00:00Z")));
        assertEquals(Instant.parse("2000-01-01T00:00:00Z"), PgTime.toInstant(0));
        assertEquals(PgTime.POSTGRES_EPOCH_IN_UNIX_MICROS, PgTime.toUnixMicros(0));
        assertEquals(0, PgTime.fromUnixMicros(PgTime.POSTGRES_EPOCH_IN_UNIX_MICROS));
    }

    @Test
    void unixEpochIsThirtyYearsBefore() {
        assertEquals(-946_684_800_000_000L, PgTime.fromInstant(Instant.EPOCH));
        assertEquals(Instant.EPOCH, PgTime.toInstant(-946_684_800_000_000L));
        assertEquals(-946_684_800_000_000L, PgTime.fromUnixMicros(0));
    }

    /** As PostgreSQL prints {@code '2023-10-20 04:53:31.831851+00'::timestamptz}'s internal value. */
    @Test
    void instantWithMicroseconds() {
        Instant instant = Instant.parse("2023-10-20T04:53:31.831851Z");
        assertEquals(751_092_811_831_851L, PgTime.fromInstant(instant));
        assertEquals(instant, PgTime.toInstant(751_092_811_831_851L));
        assertEquals(instant.toEpochMilli() * 1000 + 851, PgTime.toUnixMicros(751_092_811_831_851L));
    }

    @Test
    void nanosecondsAreTruncatedTowardsThePast() {
        assertEquals(1, PgTime.fromInstant(Instant.parse("2000-01-01T00:00:00.000001999Z")));
        assertEquals(-1, PgTime.fromInstant(Instant.parse("1999-12-31T23:59:59.999999001Z")));
        assertEquals(Instant.parse("1999-12-31T23:59:59.999999Z"), PgTime.toInstant(-1));
    }

    @Test
    void everyPostgresValueHasAnInstantAndRoundTrips() {
        for (long micros : new long[] {Long.MIN_VALUE, Long.MAX_VALUE, -1, 1, 800_000_000_000_000L}) {
            assertEquals(micros, PgTime.fromInstant(PgTime.toInstant(micros)));
        }
    }

    @Test
    void valuesOutsideTheRangeFailLoudly() {
        assertThrows(ArithmeticException.class, () -> PgTime.fromInstant(Instant.MAX));
        assertThrows(ArithmeticException.class, () -> PgTime.fromUnixMicros(Long.MIN_VALUE));
        assertThrows(ArithmeticException.class, () -> PgTime.toUnixMicros(Long.MAX_VALUE));
    }
}
