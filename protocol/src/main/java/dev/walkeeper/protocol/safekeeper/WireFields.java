package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.MessageReader;
import dev.walkeeper.protocol.pg.ProtocolException;
import java.util.ArrayList;
import java.util.List;

/** The parts both directions share: the tag, the membership configuration and the term history. */
final class WireFields {
    private WireFields() {}

    /** A reader for a message named {@code what}, past its tag, so offsets in errors are payload offsets. */
    static MessageReader afterTag(byte[] payload, String what) {
        var r = new MessageReader(payload, what);
        r.int8();
        return r;
    }

    /** A tag as errors show it: {@code 'g'} when printable ASCII, else {@code 0x1b}. */
    static String describeTag(byte tag) {
        return tag > 0x20 && tag < 0x7F ? "'" + (char) tag + "'" : String.format("0x%02x", tag & 0xFF);
    }

    static MembershipConfiguration readMconf(MessageReader r, String what) {
        int generation = r.int32();
        List<Member> members = readMembers(r);
        List<Member> newMembers = readMembers(r);
        try {
            return new MembershipConfiguration(generation, members, newMembers);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException(what + ": invalid membership configuration: " + e.getMessage());
        }
    }

    /**
     * A u32 count, then that many members. The count is not trusted for an allocation: every
     * member takes at least 11 bytes, so a lying count ends in a truncation error soon enough.
     */
    private static List<Member> readMembers(MessageReader r) {
        long count = Integer.toUnsignedLong(r.int32());
        List<Member> members = new ArrayList<>();
        for (long i = 0; i < count; i++) {
            members.add(new Member(r.int64(), r.cstring(), Short.toUnsignedInt(r.int16())));
        }
        return members;
    }

    static void writeMconf(PayloadWriter w, MembershipConfiguration mconf) {
        w.int32(mconf.generation());
        writeMembers(w, mconf.members());
        writeMembers(w, mconf.newMembers());
    }

    private static void writeMembers(PayloadWriter w, List<Member> members) {
        w.int32(members.size());
        for (Member m : members) {
            w.int64(m.nodeId()).cstring(m.host()).int16(m.pgPort());
        }
    }

    /** A u32 count, then that many 16-byte entries; the count is trusted no more than a member count. */
    static TermHistory readHistory(MessageReader r) {
        long count = Integer.toUnsignedLong(r.int32());
        List<TermSwitch> entries = new ArrayList<>();
        for (long i = 0; i < count; i++) {
            entries.add(new TermSwitch(r.int64(), new Lsn(r.int64())));
        }
        return new TermHistory(entries);
    }

    static void writeHistory(PayloadWriter w, TermHistory history) {
        w.int32(history.entries().size());
        for (TermSwitch e : history.entries()) {
            w.int64(e.term()).lsn(e.lsn());
        }
    }
}
