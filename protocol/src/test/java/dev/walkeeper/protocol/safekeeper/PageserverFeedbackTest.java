package dev.walkeeper.protocol.safekeeper;

import static dev.walkeeper.protocol.safekeeper.SkSamples.cstr;
import static dev.walkeeper.protocol.safekeeper.SkSamples.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.ProtocolException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class PageserverFeedbackTest {
    private static final PageserverFeedback ZERO = new PageserverFeedback(0, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID,
            0, 0, false);

    @Test
    void encodesNeonsKeysInNeonsOrder() {
        var feedback = new PageserverFeedback(1, new Lsn(2), new Lsn(3), new Lsn(4), 5, 0, false);
        byte[] expected = hex("05",
                cstr("current_timeline_size"), "00000008 0000000000000001",
                cstr("ps_writelsn"), "00000008 0000000000000002",
                cstr("ps_flushlsn"), "00000008 0000000000000003",
                cstr("ps_applylsn"), "00000008 0000000000000004",
                cstr("ps_replytime"), "00000008 0000000000000005");
        assertArrayEquals(expected, feedback.encode());
        assertEquals(feedback, PageserverFeedback.decode(expected));
    }

    @Test
    void shardAndCorruptionOnlyWhenSet() {
        var feedback = new PageserverFeedback(1, new Lsn(2), new Lsn(3), new Lsn(4), 5, 7, true);
        byte[] expected = hex("07",
                cstr("current_timeline_size"), "00000008 0000000000000001",
                cstr("ps_writelsn"), "00000008 0000000000000002",
                cstr("ps_flushlsn"), "00000008 0000000000000003",
                cstr("ps_applylsn"), "00000008 0000000000000004",
                cstr("ps_replytime"), "00000008 0000000000000005",
                cstr("shard_number"), "00000004 00000007",
                cstr("corruption_detected"), "00000001 01");
        assertArrayEquals(expected, feedback.encode());
        assertEquals(feedback, PageserverFeedback.decode(expected));
        // Only corruption: six keys, no shard_number.
        byte[] corrupt = new PageserverFeedback(0, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID, 0, 0, true).encode();
        assertEquals(6, corrupt[0]);
        assertEquals(-1, indexOf(corrupt, cstr("shard_number")));
    }

    @Test
    void acceptsTheOlderKeyNames() {
        byte[] block = hex("04",
                cstr("last_received_lsn"), "00000008 0000000000000002",
                cstr("disk_consistent_lsn"), "00000008 0000000000000003",
                cstr("remote_consistent_lsn"), "00000008 0000000000000004",
                cstr("replytime"), "00000008 fffffffffffffffb");
        assertEquals(new PageserverFeedback(0, new Lsn(2), new Lsn(3), new Lsn(4), -5, 0, false),
                PageserverFeedback.decode(block));
    }

    @Test
    void skipsUnknownKeysByTheirLength() {
        byte[] block = hex("05",
                cstr("new_field_one"), "00000008 000000000000002a",
                cstr("ps_flushlsn"), "00000008 0000000000000003",
                cstr("empty"), "00000000",
                cstr("odd"), "00000003 636f72",
                cstr("corruption_detected"), "00000001 02");
        assertEquals(new PageserverFeedback(0, Lsn.INVALID, new Lsn(3), Lsn.INVALID, 0, 0, true),
                PageserverFeedback.decode(block));
    }

    @Test
    void noKeysIsAllZero() {
        assertEquals(ZERO, PageserverFeedback.decode(hex("00")));
    }

    @Test
    void aRepeatedKeyKeepsItsLastValue() {
        byte[] block = hex("02", cstr("ps_writelsn"), "00000008 0000000000000002",
                cstr("last_received_lsn"), "00000008 0000000000000009");
        assertEquals(new Lsn(9), PageserverFeedback.decode(block).lastReceivedLsn());
    }

    @Test
    void aKnownKeyMustHaveItsTypesLength() {
        assertViolation(hex("01", cstr("ps_writelsn"), "00000004 00000002"), "has length 4, expected 8");
        assertViolation(hex("01", cstr("shard_number"), "00000008 0000000000000002"), "has length 8, expected 4");
        assertViolation(hex("01", cstr("corruption_detected"), "00000000"), "has length 0, expected 1");
    }

    @Test
    void malformedBlocksAreProtocolViolations() {
        assertViolation(hex("01", cstr("unknown"), "ffffffff"), "negative length -1");
        assertViolation(hex("01", cstr("unknown"), "00000010 00"), "truncated");
        assertViolation(hex("02", cstr("ps_writelsn"), "00000008 0000000000000002"), "string at offset 25 is not NUL");
        assertViolation(hex("01", "7073"), "not NUL-terminated");
        assertViolation(hex("00 00"), "1 unexpected trailing bytes");
        assertViolation(new byte[0], "truncated");
        byte[] full = SkSamples.SHARDED_CORRUPT.encode();
        for (int length = 0; length < full.length; length++) {
            byte[] prefix = Arrays.copyOf(full, length);
            assertThrows(ProtocolException.class, () -> PageserverFeedback.decode(prefix));
        }
    }

    private static void assertViolation(byte[] block, String expectedInMessage) {
        ProtocolException e = assertThrows(ProtocolException.class, () -> PageserverFeedback.decode(block));
        assertTrue(e.getMessage().contains(expectedInMessage), e.getMessage());
    }

    private static int indexOf(byte[] haystack, String needleHex) {
        byte[] needle = hex(needleHex);
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            if (Arrays.equals(haystack, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        return -1;
    }
}
