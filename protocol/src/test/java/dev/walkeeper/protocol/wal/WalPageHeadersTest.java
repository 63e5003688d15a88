package dev.walkeeper.protocol.wal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.walkeeper.protocol.Lsn;
import java.util.HexFormat;
import org.junit.jupiter.api.Test;

class WalPageHeadersTest {
    private static final WalFormat PG15 = new WalFormat(150018, 0x0123456789ABCDEFL, 16 << 20, 1);
    private static final WalFormat PG15_1MIB = new WalFormat(150018, 7, 1 << 20, 1);

    @Test
    void longHeaderLayout() {
        byte[] header = WalPageHeaders.longHeader(PG15, Lsn.parse("0/1000000"), 0, 0);
        assertArrayEquals(HexFormat.of().parseHex(
                "10d1" + "0200" + "01000000" + "0000000100000000" + "00000000" + "00000000"
                        + "efcdab8967452301" + "00000001" + "00200000"), header);
    }

    @Test
    void shortHeaderLayout() {
        byte[] header = WalPageHeaders.shortHeader(PG15, Lsn.parse("1/2345E000"),
                WalPageHeaders.XLP_FIRST_IS_CONTRECORD, 0x1234);
        assertArrayEquals(HexFormat.of().parseHex(
                "10d1" + "0100" + "01000000" + "00e0452301000000" + "34120000" + "00000000"), header);
    }

    @Test
    void headersRefuseTheWrongKindOfPage() {
        assertThrows(IllegalArgumentException.class, () -> WalPageHeaders.longHeader(PG15, Lsn.parse("0/1002000"), 0, 0));
        assertThrows(IllegalArgumentException.class, () -> WalPageHeaders.shortHeader(PG15, Lsn.parse("0/1000000"), 0, 0));
        assertThrows(IllegalArgumentException.class, () -> WalPageHeaders.shortHeader(PG15, Lsn.parse("0/1002008"), 0, 0));
    }

    @Test
    void nothingPrecedesWalStartingAtASegmentStart() {
        assertEquals(0, WalPageHeaders.initialSegmentBytes(PG15, Lsn.parse("0/3000000")).length);
    }

    @Test
    void theLongHeaderAlonePrecedesTheFirstRecordOfASegment() {
        assertArrayEquals(WalPageHeaders.longHeader(PG15, Lsn.parse("0/3000000"), 0, 0),
                WalPageHeaders.initialSegmentBytes(PG15, Lsn.parse("0/3000028")));
    }

    /**
     * Whatever the start, a reader looking for the first record as pg_waldump does
     * ({@code XLogFindNextRecord}: skip continuation data page by page) lands exactly on it.
     */
    @Test
    void continuationTailsLeadFromTheSegmentStartToTheStart() {
        for (String start : new String[] {"0/100028", "0/100100", "0/101FF8", "0/102000", "0/102018", "0/102100",
                "0/1FE018", "0/1FFFF8"}) {
            Lsn lsn = Lsn.parse(start);
            byte[] bytes = WalPageHeaders.initialSegmentBytes(PG15_1MIB, lsn);
            assertEquals(lsn.segmentOffset(PG15_1MIB.walSegSize()), bytes.length, start);
            Lsn firstRecord = lsn.value() % WalFormat.XLOG_BLCKSZ == 0 ? lsn.plus(24) : lsn;
            assertEquals(firstRecord, findFirstRecord(bytes, lsn.value() - bytes.length), start);
        }
    }

    @Test
    void refusesStartsThatCannotBeRecordBoundaries() {
        for (String start : new String[] {"0/100008", "0/100020", "0/102010", "0/102004", "0/102101"}) {
            assertThrows(IllegalArgumentException.class,
                    () -> WalPageHeaders.initialSegmentBytes(PG15_1MIB, Lsn.parse(start)), start);
        }
    }

    /** The walk of {@code XLogFindNextRecord} over {@code bytes}, which begin at segment start {@code base}. */
    private static Lsn findFirstRecord(byte[] bytes, long base) {
        long at = base;
        while (true) {
            int page = (int) (at - base);
            if (page == bytes.length) {
                return new Lsn(at + WalPageHeaders.size(PG15_1MIB, at));
            }
            assertEquals(PG15_1MIB.pageMagic(), LittleEndian.uint16(bytes, page));
            assertEquals(at, LittleEndian.int64(bytes, page + 8));
            int info = LittleEndian.uint16(bytes, page + 2);
            int headerSize = (info & WalPageHeaders.XLP_LONG_HEADER) != 0 ? 40 : 24;
            assertEquals(WalPageHeaders.size(PG15_1MIB, at), headerSize);
            int remLen = LittleEndian.int32(bytes, page + 16);
            if ((info & WalPageHeaders.XLP_FIRST_IS_CONTRECORD) == 0) {
                assertEquals(0, remLen);
                return new Lsn(at + headerSize);
            }
            if (remLen < WalFormat.XLOG_BLCKSZ - headerSize) {
                return new Lsn(at + headerSize + WalFormat.maxAlign(remLen));
            }
            at += WalFormat.XLOG_BLCKSZ;
        }
    }
}
