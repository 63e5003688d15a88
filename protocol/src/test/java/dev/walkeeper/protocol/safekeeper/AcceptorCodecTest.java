package dev.walkeeper.protocol.safekeeper;

import static dev.walkeeper.protocol.safekeeper.SkSamples.cstr;
import static dev.walkeeper.protocol.safekeeper.SkSamples.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.Bytes;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class AcceptorCodecTest {
    /** Generation 1, term 3, flush 0/2000003, commit 0/2000000. */
    private static final String APPEND_RESPONSE_HEAD = "61 00000001 0000000000000003 0000000002000003 0000000002000000";
    private static final String NO_STANDBY = "0000000000000000 0000000000000000 0000000000000000";

    /** {@link SkSamples#FEEDBACK} as Neon's safekeeper writes it: five keys, no shard, no corruption. */
    private static final String FEEDBACK_BLOCK = "05"
            + cstr("current_timeline_size") + "00000008 00000000075bcd15"
            + cstr("ps_writelsn") + "00000008 0000000002000003"
            + cstr("ps_flushlsn") + "00000008 0000000002000000"
            + cstr("ps_applylsn") + "00000008 0000000001000028"
            + cstr("ps_replytime") + "00000008 0002d79883d20000";

    @Test
    void samplesCoverEveryAcceptorMessage() {
        Set<Class<?>> covered = new HashSet<>();
        SkSamples.allAcceptor().forEach(m -> covered.add(m.getClass()));
        assertEquals(Set.of(AcceptorMessage.class.getPermittedSubclasses()), covered);
    }

    @Test
    void everyMessageRoundTrips() {
        for (AcceptorMessage m : SkSamples.allAcceptor()) {
            assertEquals(m, AcceptorCodec.decode(AcceptorCodec.encode(m)), m.toString());
        }
    }

    @Test
    void greetingWithTwoMembers() {
        byte[] wire = hex("67 0000000000000002",
                "00000001 00000002", "0000000000000001", cstr("sk-1"), "154e", "0000000000000002", cstr("sk-2"), "154e",
                "00000000",
                "0000000000000007");
        assertEquals(1 + 8 + 4 + 4 + 2 * (8 + 5 + 2) + 4 + 8, wire.length);
        var greeting = new AcceptorGreeting(2, SkSamples.TWO_MEMBERS, 7);
        assertArrayEquals(wire, AcceptorCodec.encode(greeting));
        assertEquals(greeting, AcceptorCodec.decode(wire));
    }

    @Test
    void greetingMconfIsChecked() {
        assertViolation(hex("67 0000000000000002 00000003 00000000 00000000 0000000000000007"), "has no members");
        String member = "0000000000000001" + cstr("sk-1") + "154e";
        assertViolation(hex("67 0000000000000002 00000001 00000002", member, member, "00000000 0000000000000007"),
                "appears twice");
    }

    @Test
    void voteResponse() {
        byte[] wire = hex("76 00000001 0000000000000003 01 0000000002000003 0000000001000028",
                "00000001 0000000000000001 0000000001000028");
        assertEquals(50, wire.length);
        var vote = new VoteResponse(1, 3, true, new Lsn(0x0200_0003L), new Lsn(0x0100_0028L),
                SkSamples.HISTORY.upTo(new Lsn(0x0200_0000L - 1)));
        assertArrayEquals(wire, AcceptorCodec.encode(vote));
        assertEquals(vote, AcceptorCodec.decode(wire));
        wire[13] = 0;
        assertFalse(((VoteResponse) AcceptorCodec.decode(wire)).voteGiven());
    }

    @Test
    void voteFlagIsZeroOrOne() {
        assertViolation(hex("76 00000001 0000000000000003 02 0000000002000003 0000000001000028 00000000"),
                "vote_given is 2");
        assertViolation(hex("76 00000001 0000000000000003 ff 0000000002000003 0000000001000028 00000000"),
                "vote_given is 255");
    }

    @Test
    void appendResponseFixedPartIsFiftyThreeBytes() {
        byte[] wire = hex(APPEND_RESPONSE_HEAD, NO_STANDBY);
        assertEquals(53, wire.length);
        var response = new AppendResponse(1, 3, new Lsn(0x0200_0003L), new Lsn(0x0200_0000L), HotStandbyFeedback.EMPTY,
                null);
        assertArrayEquals(wire, AcceptorCodec.encode(response));
        assertEquals(response, AcceptorCodec.decode(wire));
    }

    @Test
    void appendResponseWithPageserverFeedback() {
        byte[] wire = hex(APPEND_RESPONSE_HEAD, "ffffffffffffffff 00000005000003e8 00000005000003e7", FEEDBACK_BLOCK);
        assertEquals(53 + 1 + 5 * (4 + 8) + 22 + 12 + 12 + 12 + 13, wire.length);
        var response = new AppendResponse(1, 3, new Lsn(0x0200_0003L), new Lsn(0x0200_0000L),
                new HotStandbyFeedback(-1, 5L << 32 | 1000, 5L << 32 | 999), SkSamples.FEEDBACK);
        assertArrayEquals(wire, AcceptorCodec.encode(response));
        assertEquals(response, AcceptorCodec.decode(wire));
    }

    @Test
    void appendResponseWithAnEmptyFeedbackBlock() {
        // One byte past the fixed part: a block with no keys, so feedback present and all zero.
        var response = (AppendResponse) AcceptorCodec.decode(hex(APPEND_RESPONSE_HEAD, NO_STANDBY, "00"));
        assertEquals(new PageserverFeedback(0, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID, 0, 0, false),
                response.pageserverFeedback());
    }

    /** As the C walproposer's {@code pq_getmsgend}: a message must end where its fields end. */
    @Test
    void trailingBytesAreRefused() {
        assertViolation(Bytes.concat(AcceptorCodec.encode(new AcceptorGreeting(2, SkSamples.TWO_MEMBERS, 7)),
                new byte[1]), "1 unexpected trailing bytes");
        assertViolation(hex("76 00000001 0000000000000003 00 0000000002000003 0000000001000028 00000000 00"),
                "1 unexpected trailing bytes");
        assertViolation(hex(APPEND_RESPONSE_HEAD, NO_STANDBY, FEEDBACK_BLOCK, "00 00"), "2 unexpected trailing bytes");
        // Without a feedback block, a stray byte is read as one and fails as a malformed block.
        assertViolation(hex(APPEND_RESPONSE_HEAD, NO_STANDBY, "01"), "AppendResponse: string at offset 54");
    }

    @Test
    void unknownTagIsNamed() {
        assertViolation(hex("65 00000001 0000000000000003"), "unknown acceptor message tag 'e'");
        assertViolation(hex("ff"), "unknown acceptor message tag 0xff");
        assertViolation(new byte[0], "empty acceptor message");
    }

    @Test
    void everyPrefixIsTruncatedButTheFixedPartOfAnAppendResponse() {
        for (AcceptorMessage m : SkSamples.allAcceptor()) {
            byte[] wire = AcceptorCodec.encode(m);
            for (int length = 0; length < wire.length; length++) {
                byte[] prefix = Arrays.copyOf(wire, length);
                if (m instanceof AppendResponse && length == 53) {
                    // The optional tail is optional: without it, the same response without feedback.
                    assertNull(((AppendResponse) AcceptorCodec.decode(prefix)).pageserverFeedback());
                } else {
                    assertThrows(ProtocolException.class, () -> AcceptorCodec.decode(prefix), m + " cut at " + length);
                }
            }
        }
    }

    @Test
    void lyingHistoryCountFailsAsTruncation() {
        assertViolation(hex("76 00000001 0000000000000003 01 0000000002000003 0000000001000028 7fffffff",
                "0000000000000001 0000000001000028"), "truncated");
    }

    private static void assertViolation(byte[] wire, String expectedInMessage) {
        ProtocolException e = assertThrows(ProtocolException.class, () -> AcceptorCodec.decode(wire));
        assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState());
        assertTrue(e.getMessage().contains(expectedInMessage), e.getMessage());
    }
}
