package dev.walkeeper.protocol.safekeeper;

import static dev.walkeeper.protocol.safekeeper.SkSamples.cstr;
import static dev.walkeeper.protocol.safekeeper.SkSamples.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.Bytes;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class ProposerCodecTest {
    private static final String TENANT = "9ef87a5bf0d92544f6fafeeb3239695c";
    private static final String TIMELINE = "de200bd42b49cc1814412c7e592dd6e9";

    /** Generation 1, term 3, begin 0/2000000, end 0/2000003, commit 0/1FFFF00, truncate 0/1000028. */
    private static final String APPEND_HEADER_3_BYTES = "61 00000001 0000000000000003 0000000002000000 "
            + "0000000002000003 0000000001ffff00 0000000001000028";

    @Test
    void samplesCoverEveryProposerMessage() {
        Set<Class<?>> covered = new HashSet<>();
        SkSamples.allProposer().forEach(m -> covered.add(m.getClass()));
        assertEquals(Set.of(ProposerMessage.class.getPermittedSubclasses()), covered);
    }

    @Test
    void everyMessageRoundTrips() {
        for (ProposerMessage m : SkSamples.allProposer()) {
            assertEquals(m, ProposerCodec.decode(ProposerCodec.encode(m)), m.toString());
        }
    }

    @Test
    void voteRequestIsThirteenBytes() {
        byte[] wire = hex("76 00000000 0000000000000005");
        assertEquals(13, wire.length);
        assertArrayEquals(wire, ProposerCodec.encode(new VoteRequest(0, 5)));
        assertEquals(new VoteRequest(0, 5), ProposerCodec.decode(wire));
        // Unsigned on the wire: all bits set is the largest generation and term, not -1 of anything.
        assertEquals(new VoteRequest(-1, -1), ProposerCodec.decode(hex("76 ffffffff ffffffffffffffff")));
    }

    @Test
    void greetingWithoutGenerations() {
        // tenant cstr, timeline cstr, mconf {generation 0, no members, no new members},
        // pg_version 170004, system_id, wal_seg_size 16 MiB.
        byte[] wire = hex("67", cstr(TENANT), cstr(TIMELINE), "00000000 00000000 00000000",
                "00029814 0102030405060708 01000000");
        assertEquals(1 + 33 + 33 + 12 + 16, wire.length);
        var greeting = new ProposerGreeting(new TenantTimelineId(TENANT, TIMELINE), MembershipConfiguration.EMPTY,
                170004, 0x0102030405060708L, 16 << 20);
        assertArrayEquals(wire, ProposerCodec.encode(greeting));
        assertEquals(greeting, ProposerCodec.decode(wire));
    }

    @Test
    void greetingWithTwoMembers() {
        byte[] wire = hex("67", cstr(TENANT), cstr(TIMELINE),
                "00000001 00000002", "0000000000000001", cstr("sk-1"), "154e", "0000000000000002", cstr("sk-2"), "154e",
                "00000000", "00024a02 0000000000000000 40000000");
        var greeting = (ProposerGreeting) ProposerCodec.decode(wire);
        assertEquals(SkSamples.TWO_MEMBERS, greeting.mconf());
        assertEquals(150018, greeting.pgVersion());
        assertEquals(1 << 30, greeting.walSegSize());
        assertArrayEquals(wire, ProposerCodec.encode(greeting));
    }

    @Test
    void upperCaseIdsAreAcceptedAndKeptLowerCase() {
        byte[] wire = hex("67", cstr(TENANT.toUpperCase()), cstr(TIMELINE.toUpperCase()), "00000000 00000000 00000000",
                "00029814 0000000000000000 01000000");
        var greeting = (ProposerGreeting) ProposerCodec.decode(wire);
        assertEquals(TENANT, greeting.id().tenantId());
        assertEquals(TIMELINE, greeting.id().timelineId());
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "9ef87a5bf0d92544f6fafeeb3239695", "9ef87a5bf0d92544f6fafeeb3239695c0",
            "9ef87a5bf0d92544f6fafeeb3239695g", "9ef87a5b-0d92544f6fafeeb3239695c", " ef87a5bf0d92544f6fafeeb3239695c"})
    void idsMustBe32HexDigits(String bad) {
        String rest = "00000000 00000000 00000000 00029814 0000000000000000 01000000";
        assertViolation(hex("67", cstr(bad), cstr(TIMELINE), rest), "tenant_id must be 32 hex digits");
        assertViolation(hex("67", cstr(TENANT), cstr(bad), rest), "timeline_id must be 32 hex digits");
    }

    @Test
    void membershipConfigurationIsCheckedAsNeonDoes() {
        String ids = cstr(TENANT) + cstr(TIMELINE);
        String tail = "00029814 0000000000000000 01000000";
        String member1 = "0000000000000001" + cstr("a") + "0001";
        String member2 = "0000000000000002" + cstr("b") + "0002";
        // Generation 1 with no members.
        assertViolation(hex("67", ids, "00000001 00000000 00000000", tail), "has no members");
        // A node id twice in the members, then twice in the new members.
        assertViolation(hex("67", ids, "00000001 00000002", member1, member1, "00000000", tail), "appears twice");
        assertViolation(hex("67", ids, "00000001 00000001", member1, "00000002", member2, member2, tail),
                "appears twice");
        // The same node in both sets of a joint configuration is how joint configurations look.
        var joint = (ProposerGreeting) ProposerCodec.decode(
                hex("67", ids, "00000002 00000001", member1, "00000002", member1, member2, tail));
        assertTrue(joint.mconf().isJoint());
        assertEquals(2, joint.mconf().generation());
    }

    @Test
    void lyingCountsFailAsTruncation() {
        String ids = cstr(TENANT) + cstr(TIMELINE);
        assertViolation(hex("67", ids, "00000001 ffffffff 0000000000000001", cstr("a"), "0001"), "truncated");
        assertViolation(hex("65 00000001 0000000000000003 0000000001000028 ffffffff 0000000000000001 0000000001000028"),
                "truncated");
    }

    @Test
    void proposerElected() {
        byte[] wire = hex("65 00000001 0000000000000003 0000000001000028 00000002",
                "0000000000000001 0000000001000028", "0000000000000003 0000000002000000");
        assertEquals(57, wire.length);
        var elected = new ProposerElected(1, 3, new Lsn(0x0100_0028L), SkSamples.HISTORY);
        assertArrayEquals(wire, ProposerCodec.encode(elected));
        assertEquals(elected, ProposerCodec.decode(wire));
    }

    @Test
    void appendRequestIsAFortyFiveByteHeaderThenTheWal() {
        byte[] wire = hex(APPEND_HEADER_3_BYTES, "aabbcc");
        assertEquals(45 + 3, wire.length);
        var append = new AppendRequest(1, 3, new Lsn(0x0200_0000L), new Lsn(0x0200_0003L), new Lsn(0x01FF_FF00L),
                new Lsn(0x0100_0028L), ByteSlice.of(new byte[] {(byte) 0xAA, (byte) 0xBB, (byte) 0xCC}));
        assertArrayEquals(wire, ProposerCodec.encode(append));
        assertEquals(append, ProposerCodec.decode(wire));
    }

    @Test
    void heartbeatIsTheHeaderAlone() {
        byte[] wire = hex("61 00000001 0000000000000003 0000000002000003 0000000002000003 0000000002000003",
                "0000000000000000");
        assertEquals(45, wire.length);
        var heartbeat = (AppendRequest) ProposerCodec.decode(wire);
        assertTrue(heartbeat.isHeartbeat());
        assertEquals(new Lsn(0x0200_0003L), heartbeat.commitLsn());
        assertArrayEquals(wire, ProposerCodec.encode(heartbeat));
    }

    @Test
    void appendRequestRefusesEndBeforeBegin() {
        assertViolation(hex("61 00000001 0000000000000003 0000000002000003 0000000002000000 0000000000000000",
                "0000000000000000 aabbcc"), "precedes begin_lsn");
        // Unsigned: begin at the top of the range is after any end below it.
        assertViolation(hex("61 00000001 0000000000000003 ffffffffffffffff 0000000000000000 0000000000000000",
                "0000000000000000"), "precedes begin_lsn");
    }

    @Test
    void appendRequestCarriesAtMostMaxSendSize() {
        assertEquals(131072, AppendRequest.MAX_SEND_SIZE);
        byte[] atLimit = appendWire(0x0300_0000L, 0x0300_0000L + 131072, new byte[131072]);
        assertEquals(131072, ((AppendRequest) ProposerCodec.decode(atLimit)).wal().length());
        assertViolation(appendWire(0x0300_0000L, 0x0300_0000L + 131073, new byte[131073]), "exceed MAX_SEND_SIZE");
        // A length that does not fit an int must not wrap into a small one.
        assertViolation(appendWire(0, 0x1_0000_0002L, new byte[2]), "exceed MAX_SEND_SIZE");
        assertViolation(appendWire(0, Long.MIN_VALUE, new byte[0]), "exceed MAX_SEND_SIZE");
    }

    /** The WAL is a view of the received payload, not a copy: it goes to the file from there. */
    @Test
    void decodedWalIsAViewOfThePayload() {
        byte[] payload = hex(APPEND_HEADER_3_BYTES, "aabbcc");
        var append = (AppendRequest) ProposerCodec.decode(payload);
        assertSame(payload, append.wal().backingArray());
        assertEquals(payload.length - 3, append.wal().offset());
        payload[payload.length - 1] = 0x11;
        assertEquals(0x11, append.wal().get(2));
    }

    @Test
    void appendRequestRefusesMissingWal() {
        assertViolation(hex(APPEND_HEADER_3_BYTES, "aabb"), "3 bytes of WAL announced, only 2 present");
        assertViolation(hex(APPEND_HEADER_3_BYTES), "3 bytes of WAL announced, only 0 present");
    }

    /**
     * Our choice, Neon's behaviour: bytes after the last field are ignored, as Neon's safekeeper
     * ignores them (it never checks that a proposer message was consumed).
     */
    @Test
    void trailingBytesAreIgnoredAsNeonIgnoresThem() {
        var append = (AppendRequest) ProposerCodec.decode(hex(APPEND_HEADER_3_BYTES, "aabbcc", "dd"));
        assertArrayEquals(hex("aabbcc"), append.wal().toArray());
        assertEquals(new VoteRequest(0, 5), ProposerCodec.decode(hex("76 00000000 0000000000000005 00")));
        var elected = (ProposerElected) ProposerCodec.decode(
                hex("65 00000001 0000000000000003 0000000001000028 00000000 ffff"));
        assertTrue(elected.history().isEmpty());
    }

    @Test
    void unknownTagIsNamed() {
        assertViolation(hex("78 00000000 0000000000000005"), "unknown proposer message tag 'x'");
        assertViolation(hex("00"), "unknown proposer message tag 0x00");
        // 'z' belongs to the replication stream, not to this one.
        assertViolation(hex("7a"), "'z'");
        // A v2 greeting's u64 little-endian tag word reads as 'g' and an empty tenant id.
        assertViolation(hex("6700000000000000"), "ProposerGreeting: tenant_id");
        assertViolation(new byte[0], "empty proposer message");
    }

    @Test
    void everyPrefixOfEveryMessageIsTruncated() {
        for (ProposerMessage m : SkSamples.allProposer()) {
            byte[] wire = ProposerCodec.encode(m);
            // The 128 kB sample would take long at every length; its header and a stretch of WAL suffice.
            int checked = Math.min(wire.length, 200);
            for (int length = 0; length < checked; length++) {
                byte[] prefix = Arrays.copyOf(wire, length);
                assertThrows(ProtocolException.class, () -> ProposerCodec.decode(prefix), m + " cut at " + length);
            }
            byte[] oneShort = Arrays.copyOf(wire, wire.length - 1);
            assertThrows(ProtocolException.class, () -> ProposerCodec.decode(oneShort), m + " one byte short");
        }
    }

    @Test
    void encodingRefusesAHostWithNul() {
        var mconf = new MembershipConfiguration(1, List.of(new Member(1, "a\0b", 1)), List.of());
        assertThrows(IllegalArgumentException.class,
                () -> ProposerCodec.encode(new ProposerGreeting(SkSamples.ID, mconf, 1, 1, 1)));
    }

    private static byte[] appendWire(long begin, long end, byte[] wal) {
        return Bytes.concat(hex("61 00000001 0000000000000003"), Bytes.int64(begin), Bytes.int64(end),
                Bytes.int64(0), Bytes.int64(0), wal);
    }

    private static void assertViolation(byte[] wire, String expectedInMessage) {
        ProtocolException e = assertThrows(ProtocolException.class, () -> ProposerCodec.decode(wire));
        assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState());
        assertTrue(e.getMessage().contains(expectedInMessage), e.getMessage());
    }
}
