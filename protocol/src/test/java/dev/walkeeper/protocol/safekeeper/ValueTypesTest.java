package dev.walkeeper.protocol.safekeeper;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ValueTypesTest {

    @Test
    void tenantTimelineIdIsKeptLowerCase() {
        var id = new TenantTimelineId("9EF87A5BF0D92544F6FAFEEB3239695C", "De200bd42b49cc1814412c7e592dd6e9");
        assertEquals("9ef87a5bf0d92544f6fafeeb3239695c", id.tenantId());
        assertEquals("de200bd42b49cc1814412c7e592dd6e9", id.timelineId());
        assertEquals(SkSamples.ID, id);
        assertEquals("9ef87a5bf0d92544f6fafeeb3239695c/de200bd42b49cc1814412c7e592dd6e9", id.toString());
        assertThrows(IllegalArgumentException.class, () -> new TenantTimelineId("9ef8", id.timelineId()));
        assertThrows(IllegalArgumentException.class,
                () -> new TenantTimelineId(id.tenantId(), "de200bd42b49cc1814412c7e592dd6e٩"));
        assertThrows(NullPointerException.class, () -> new TenantTimelineId(null, id.timelineId()));
    }

    @Test
    void membershipConfiguration() {
        assertEquals(0, MembershipConfiguration.EMPTY.generation());
        assertTrue(MembershipConfiguration.EMPTY.members().isEmpty());
        assertFalse(MembershipConfiguration.EMPTY.isJoint());
        assertFalse(SkSamples.TWO_MEMBERS.isJoint());
        assertTrue(SkSamples.JOINT.isJoint());
        // Generation 0 may have members, and a joint configuration may repeat a node across its sets.
        new MembershipConfiguration(0, List.of(new Member(1, "a", 1)), List.of(new Member(1, "a", 1)));
        assertThrows(IllegalArgumentException.class, () -> new MembershipConfiguration(1, List.of(), List.of()));
        assertThrows(IllegalArgumentException.class, () -> new MembershipConfiguration(1,
                List.of(new Member(1, "a", 1), new Member(1, "b", 2)), List.of()));
        assertThrows(IllegalArgumentException.class, () -> new MembershipConfiguration(1,
                List.of(new Member(1, "a", 1)), List.of(new Member(2, "a", 1), new Member(2, "a", 1))));
    }

    @Test
    void membershipConfigurationIsImmutable() {
        List<Member> members = new ArrayList<>(List.of(new Member(1, "a", 1)));
        var mconf = new MembershipConfiguration(1, members, List.of());
        members.add(new Member(2, "b", 2));
        assertEquals(1, mconf.members().size());
        assertThrows(UnsupportedOperationException.class, () -> mconf.members().add(new Member(3, "c", 3)));
    }

    @Test
    void memberPortIsAU16() {
        new Member(1, "a", 0);
        new Member(1, "a", 65535);
        assertThrows(IllegalArgumentException.class, () -> new Member(1, "a", 65536));
        assertThrows(IllegalArgumentException.class, () -> new Member(1, "a", -1));
    }

    @Test
    void termHistory() {
        assertTrue(TermHistory.EMPTY.isEmpty());
        assertEquals(0, TermHistory.EMPTY.lastTerm());
        assertEquals(3, SkSamples.HISTORY.lastTerm());
        assertFalse(SkSamples.HISTORY.isEmpty());
        // upTo keeps the switches at or before the LSN: a switch exactly at it is kept.
        assertSame(SkSamples.HISTORY, SkSamples.HISTORY.upTo(new Lsn(-1)));
        assertEquals(SkSamples.HISTORY, SkSamples.HISTORY.upTo(new Lsn(0x0200_0000L)));
        assertEquals(new TermHistory(List.of(new TermSwitch(1, new Lsn(0x0100_0028L)))),
                SkSamples.HISTORY.upTo(new Lsn(0x01FF_FFFFL)));
        assertEquals(1, SkSamples.HISTORY.upTo(new Lsn(0x0100_0028L)).lastTerm());
        assertTrue(SkSamples.HISTORY.upTo(new Lsn(0x0100_0027L)).isEmpty());
        assertEquals(0, SkSamples.HISTORY.upTo(Lsn.INVALID).lastTerm());
        // Unsigned order: an LSN with the top bit set is past both switches.
        assertEquals(2, SkSamples.HISTORY.upTo(new Lsn(Long.MIN_VALUE)).entries().size());
        assertThrows(UnsupportedOperationException.class,
                () -> SkSamples.HISTORY.entries().add(new TermSwitch(4, Lsn.INVALID)));
    }

    @Test
    void appendRequestComparesItsWalByContent() {
        var a = new AppendRequest(1, 3, new Lsn(10), new Lsn(13), new Lsn(9), Lsn.INVALID, ByteSlice.of(new byte[] {1, 2, 3}));
        var b = new AppendRequest(1, 3, new Lsn(10), new Lsn(13), new Lsn(9), Lsn.INVALID, ByteSlice.of(new byte[] {1, 2, 3}));
        var c = new AppendRequest(1, 3, new Lsn(10), new Lsn(13), new Lsn(9), Lsn.INVALID, ByteSlice.of(new byte[] {1, 2, 4}));
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertNotEquals(a, c);
        assertNotEquals(a, new AppendRequest(2, 3, new Lsn(10), new Lsn(13), new Lsn(9), Lsn.INVALID, ByteSlice.of(new byte[] {1, 2, 3})));
        assertFalse(a.isHeartbeat());
        assertEquals("AppendRequest[generation=1, term=3, beginLsn=0/A, endLsn=0/D, commitLsn=0/9, truncateLsn=0/0, "
                + "wal=3 bytes]", a.toString());
        assertTrue(new AppendRequest(-1, -1, new Lsn(5), new Lsn(5), Lsn.INVALID, Lsn.INVALID, ByteSlice.of(new byte[0])).toString()
                .startsWith("AppendRequest[generation=4294967295, term=18446744073709551615,"));
    }

    @Test
    void appendRequestWalMustSpanItsRange() {
        assertThrows(IllegalArgumentException.class,
                () -> new AppendRequest(1, 1, new Lsn(10), new Lsn(12), Lsn.INVALID, Lsn.INVALID, ByteSlice.of(new byte[3])));
        assertThrows(IllegalArgumentException.class,
                () -> new AppendRequest(1, 1, new Lsn(10), new Lsn(9), Lsn.INVALID, Lsn.INVALID, ByteSlice.of(new byte[0])));
        assertThrows(IllegalArgumentException.class, () -> new AppendRequest(1, 1, Lsn.INVALID,
                new Lsn(AppendRequest.MAX_SEND_SIZE + 1), Lsn.INVALID, Lsn.INVALID,
                ByteSlice.of(new byte[AppendRequest.MAX_SEND_SIZE + 1])));
        assertThrows(NullPointerException.class,
                () -> new AppendRequest(1, 1, new Lsn(10), new Lsn(10), null, Lsn.INVALID, ByteSlice.of(new byte[0])));
    }
}
