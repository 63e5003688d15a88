package dev.walkeeper.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class LsnTest {

    @Test
    void parsesAndPrintsPostgresForm() {
        Lsn lsn = Lsn.parse("16/B374D848");
        assertEquals(0x16_B374D848L, lsn.value());
        assertEquals("16/B374D848", lsn.toString());
        assertEquals("0/0", Lsn.INVALID.toString());
        assertEquals(new Lsn(0x1_0000_0000L), Lsn.parse("1/0"));
        // Lower case and leading zeros are accepted; printing is upper case without them.
        assertEquals("0/1A", Lsn.parse("00000000/0000001a").toString());
        assertEquals(new Lsn(-1), Lsn.parse("FFFFFFFF/FFFFFFFF"));
        assertEquals("FFFFFFFF/FFFFFFFF", new Lsn(-1).toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "/", "1/", "/1", "1", "1/2/3", "G/0", "0/x", " 1/2", "1/2 ", "+1/2", "-1/2",
            "1/-2", "123456789/0", "0/123456789", "0x1/2", "１/2"})
    void rejectsAnythingElse(String text) {
        assertThrows(IllegalArgumentException.class, () -> Lsn.parse(text));
    }

    @Test
    void ordersUnsigned() {
        Lsn high = new Lsn(0x8000_0000_0000_0000L);
        Lsn low = new Lsn(1);
        assertTrue(high.compareTo(low) > 0);
        assertSame(high, Lsn.max(low, high));
        assertSame(low, Lsn.min(high, low));
        List<Lsn> sorted = new ArrayList<>(List.of(new Lsn(-1), Lsn.INVALID, high, low));
        Collections.sort(sorted);
        assertEquals(List.of(Lsn.INVALID, low, high, new Lsn(-1)), sorted);
    }

    @Test
    void validity() {
        assertFalse(Lsn.INVALID.isValid());
        assertTrue(new Lsn(1).isValid());
        assertTrue(new Lsn(-1).isValid());
    }

    @Test
    void plusMovesAndRefusesToWrap() {
        assertEquals(Lsn.parse("0/2000"), Lsn.parse("0/1000").plus(0x1000));
        assertEquals(Lsn.parse("0/1000"), Lsn.parse("0/2000").plus(-0x1000));
        assertEquals(new Lsn(0x8000_0000_0000_0000L), new Lsn(Long.MAX_VALUE).plus(1));
        assertThrows(ArithmeticException.class, () -> new Lsn(-1).plus(1));
        assertThrows(ArithmeticException.class, () -> Lsn.INVALID.plus(-1));
    }

    @Test
    void segmentArithmeticAsPostgres() {
        int sixteenMiB = 16 * 1024 * 1024;
        Lsn lsn = Lsn.parse("16/B374D848");
        assertEquals(0x16_B3L, lsn.segmentNumber(sixteenMiB));
        assertEquals(0x74D848, lsn.segmentOffset(sixteenMiB));
        assertEquals(0, Lsn.parse("1/0").segmentOffset(sixteenMiB));
        assertEquals(0xFFFF_FFFF_FFL, new Lsn(-1).segmentNumber(sixteenMiB));
        assertThrows(IllegalArgumentException.class, () -> lsn.segmentNumber(0));
        assertThrows(IllegalArgumentException.class, () -> lsn.segmentOffset(3 * 1024 * 1024));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void formatThenParseIsIdentity(long seed) {
        Seeds.check(seed, gen -> {
            Lsn lsn = new Lsn(gen.anyLong());
            assertEquals(lsn, Lsn.parse(lsn.toString()));
        });
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void orderingIsUnsignedOrderOfTheValue(long seed) {
        Seeds.check(seed, gen -> {
            long a = gen.anyLong();
            long b = gen.oneIn(10) ? a : gen.anyLong();
            assertEquals(Integer.signum(Long.compareUnsigned(a, b)), Integer.signum(new Lsn(a).compareTo(new Lsn(b))));
            // The printed form orders the same way once both halves are zero-padded.
            String pa = String.format("%016X", a);
            String pb = String.format("%016X", b);
            assertEquals(Integer.signum(pa.compareTo(pb)), Integer.signum(new Lsn(a).compareTo(new Lsn(b))));
        });
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void segmentNumberAndOffsetRebuildTheLsn(long seed) {
        Seeds.check(seed, gen -> {
            int walSegSize = 16 * 1024 * 1024;
            long value = gen.anyLong();
            Lsn lsn = new Lsn(value);
            assertEquals(value, lsn.segmentNumber(walSegSize) * walSegSize + lsn.segmentOffset(walSegSize));
        });
    }
}
