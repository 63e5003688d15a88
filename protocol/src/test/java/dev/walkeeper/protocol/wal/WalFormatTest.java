package dev.walkeeper.protocol.wal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class WalFormatTest {

    @Test
    void pageMagicPerMajorVersion() {
        assertEquals(0xD10D, new WalFormat(140013, 0, 16 << 20, 1).pageMagic());
        assertEquals(0xD110, new WalFormat(150018, 0, 16 << 20, 1).pageMagic());
        assertEquals(0xD113, new WalFormat(160000, 0, 16 << 20, 1).pageMagic());
        assertEquals(0xD116, new WalFormat(170005, 0, 16 << 20, 1).pageMagic());
        assertEquals(15, new WalFormat(150018, 0, 16 << 20, 1).majorVersion());
    }

    @ParameterizedTest
    @ValueSource(ints = {130000, 139999, 180000, 15, 0})
    void refusesUnknownVersions(int pgVersion) {
        assertThrows(IllegalArgumentException.class, () -> new WalFormat(pgVersion, 0, 16 << 20, 1));
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -1, 512 * 1024, 3 << 20, Integer.MIN_VALUE})
    void refusesSegmentSizesPostgresRefuses(int walSegSize) {
        assertThrows(IllegalArgumentException.class, () -> new WalFormat(150018, 0, walSegSize, 1));
    }

    @Test
    void acceptsTheSegmentSizeRange() {
        assertEquals(1 << 20, new WalFormat(150018, 0, 1 << 20, 1).walSegSize());
        assertEquals(1 << 30, new WalFormat(150018, 0, 1 << 30, 1).walSegSize());
        assertThrows(IllegalArgumentException.class, () -> new WalFormat(150018, 0, 1 << 20, 0));
    }

    @Test
    void maxAlignRoundsUpToEight() {
        assertEquals(0, WalFormat.maxAlign(0));
        assertEquals(8, WalFormat.maxAlign(1));
        assertEquals(8, WalFormat.maxAlign(8));
        assertEquals(0x1000030, WalFormat.maxAlign(0x1000029));
    }
}
