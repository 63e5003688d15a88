package dev.walkeeper.protocol.wal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.Seeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class XLogFileNameTest {
    private static final int MIB16 = 16 << 20;

    @Test
    void namesAsPostgres() {
        assertEquals("000000010000000000000001", XLogFileName.of(1, 1, MIB16));
        assertEquals("000000010000000100000000", XLogFileName.of(1, 0x100, MIB16));
        assertEquals("0000000100000001000000FF", XLogFileName.of(1, 0x1FF, MIB16));
        // pg_walfile_name('16/B374D848') on a 16 MiB cluster.
        assertEquals("0000000100000016000000B3", XLogFileName.of(1, Lsn.parse("16/B374D848").segmentNumber(MIB16), MIB16));
        // 1 MiB segments: 4096 per 4 GiB "log".
        assertEquals("000000020000000000000FFF", XLogFileName.of(2, 0xFFF, 1 << 20));
        assertEquals("000000020000000100000000", XLogFileName.of(2, 0x1000, 1 << 20));
        assertEquals("FFFFFFFF0000000000000000", XLogFileName.of(-1, 0, MIB16));
    }

    @Test
    void parsesBack() {
        assertEquals(0x100, XLogFileName.segNo("000000010000000100000000", MIB16));
        assertEquals(0x100, XLogFileName.segNo("000000010000000100000000.partial", MIB16));
        assertEquals(0x1000, XLogFileName.segNo("000000020000000100000000", 1 << 20));
        assertEquals(2, XLogFileName.timeline("000000020000000100000000.partial"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "00000001000000000000001", "0000000100000000000000010", "00000001000000000000000g",
            "00000001000000000000000a", "000000010000000000000001.history", "000000010000000000000001.partial.partial",
            " 00000001000000000000001", "000000010000000000000001.backup"})
    void rejectsOtherNames(String name) {
        assertThrows(IllegalArgumentException.class, () -> XLogFileName.segNo(name, MIB16));
    }

    @Test
    void segmentPartMustFitTheSegmentSize() {
        // With 16 MiB segments a "log" has segments 00 to FF only.
        assertThrows(IllegalArgumentException.class, () -> XLogFileName.segNo("000000010000000000000100", MIB16));
        assertEquals(0x100, XLogFileName.segNo("000000010000000000000100", 1 << 20));
    }

    @Test
    void recognisesNames() {
        assertTrue(XLogFileName.isWalFileName("000000010000000000000001"));
        assertFalse(XLogFileName.isWalFileName("000000010000000000000001.partial"));
        assertFalse(XLogFileName.isWalFileName("00000001000000000000000a"));
        assertFalse(XLogFileName.isWalFileName("00000001.history"));
        assertTrue(XLogFileName.isPartialWalFileName("000000010000000000000001.partial"));
        assertFalse(XLogFileName.isPartialWalFileName("000000010000000000000001"));
        assertFalse(XLogFileName.isPartialWalFileName("0000000100000000000001.partial"));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void nameThenSegNoIsIdentity(long seed) {
        Seeds.check(seed, gen -> {
            long log = gen.between(0, 0xFFFF_FFFFL);
            int sizeBits = gen.between(20, 30);
            int timeline = gen.between(1, Integer.MAX_VALUE);
            int walSegSize = 1 << sizeBits;
            long segNo = log * (0x1_0000_0000L >>> sizeBits) + (log % (0x1_0000_0000L >>> sizeBits));
            String name = XLogFileName.of(timeline, segNo, walSegSize);
            assertTrue(XLogFileName.isWalFileName(name));
            assertEquals(segNo, XLogFileName.segNo(name, walSegSize));
            assertEquals(timeline, XLogFileName.timeline(name));
        });
    }
}
