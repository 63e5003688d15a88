package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class PgSizeTest {

    @Test
    void parsesPostgresUnitsOf1024() {
        assertEquals(100_000L, PgSize.parse("100000"));
        assertEquals(512L << 10, PgSize.parse("512kB"));
        assertEquals(16L << 20, PgSize.parse(" 16MB "));
        assertEquals(2L << 30, PgSize.parse("2GB"));
        assertEquals(1L << 40, PgSize.parse("1TB"));
        assertEquals(7L, PgSize.parse("7B"));
    }

    @Test
    void refusesWhatIsNotASizeOrOverflows() {
        for (String bad : new String[] {"lots", "16mb", "-1MB", "1.5GB", "", "MB"}) {
            assertThrows(IllegalArgumentException.class, () -> PgSize.parse(bad), bad);
        }
        assertThrows(IllegalArgumentException.class, () -> PgSize.parse("8388608TB"));
        assertThrows(IllegalArgumentException.class, () -> PgSize.parse("99999999999999999999"));
        assertEquals(8388607L << 40, PgSize.parse("8388607TB"));
    }

    @Test
    void formatsWithTheLargestExactUnitAndParsesBack() {
        assertEquals("16MB", PgSize.format(16L << 20));
        assertEquals("1GB", PgSize.format(1L << 30));
        assertEquals("1000B", PgSize.format(1000));
        assertEquals("1536kB", PgSize.format(1536L << 10));
        for (long bytes : new long[] {0, 1, 1024, 3L << 20, 5L << 40, 12345}) {
            assertEquals(bytes, PgSize.parse(PgSize.format(bytes)));
        }
    }
}
