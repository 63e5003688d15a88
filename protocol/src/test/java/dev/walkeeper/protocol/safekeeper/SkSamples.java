package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;

/** At least one instance of every message, with edge values (empty, zero, all bits set, joint, non-ASCII). */
final class SkSamples {
    private SkSamples() {}

    static final TenantTimelineId ID = new TenantTimelineId("9ef87a5bf0d92544f6fafeeb3239695c",
            "de200bd42b49cc1814412c7e592dd6e9");

    static final MembershipConfiguration TWO_MEMBERS = new MembershipConfiguration(1,
            List.of(new Member(1, "sk-1", 5454), new Member(2, "sk-2", 5454)), List.of());

    static final MembershipConfiguration JOINT = new MembershipConfiguration(-1,
            List.of(new Member(1, "sk-1", 0), new Member(-1, "", 65535)),
            List.of(new Member(-1, "sk-neu.exämple", 5454), new Member(3, "10.0.0.3", 6500)));

    static final TermHistory HISTORY = new TermHistory(List.of(
            new TermSwitch(1, new Lsn(0x0100_0028L)), new TermSwitch(3, new Lsn(0x0200_0000L))));

    static final PageserverFeedback FEEDBACK = new PageserverFeedback(123_456_789, new Lsn(0x0200_0003L),
            new Lsn(0x0200_0000L), new Lsn(0x0100_0028L), 800_000_000_000_000L, 0, false);

    static final PageserverFeedback SHARDED_CORRUPT = new PageserverFeedback(-1, new Lsn(-1), Lsn.INVALID,
            new Lsn(1), -5, -1, true);

    static List<ProposerMessage> allProposer() {
        return List.of(
                new ProposerGreeting(ID, MembershipConfiguration.EMPTY, 170004, 0x0102030405060708L, 16 << 20),
                new ProposerGreeting(ID, TWO_MEMBERS, 150018, 0, 1 << 30),
                new ProposerGreeting(ID, JOINT, -1, -1, -1),
                new VoteRequest(0, 5),
                new VoteRequest(-1, -1),
                new ProposerElected(1, 3, new Lsn(0x0100_0028L), HISTORY),
                new ProposerElected(0, 0, Lsn.INVALID, TermHistory.EMPTY),
                new AppendRequest(1, 3, new Lsn(0x0200_0000L), new Lsn(0x0200_0003L), new Lsn(0x01FF_FF00L),
                        new Lsn(0x0100_0028L), ByteSlice.of(new byte[] {(byte) 0xAA, (byte) 0xBB, (byte) 0xCC})),
                new AppendRequest(-1, -1, new Lsn(-1), new Lsn(-1), new Lsn(-1), Lsn.INVALID, ByteSlice.of(new byte[0])),
                new AppendRequest(2, 9, new Lsn(0x0300_0000L), new Lsn(0x0300_0000L + AppendRequest.MAX_SEND_SIZE),
                        Lsn.INVALID, Lsn.INVALID, ByteSlice.of(ramp(AppendRequest.MAX_SEND_SIZE))));
    }

    static List<AcceptorMessage> allAcceptor() {
        return List.of(
                new AcceptorGreeting(2, TWO_MEMBERS, 7),
                new AcceptorGreeting(-1, JOINT, -1),
                new AcceptorGreeting(0, MembershipConfiguration.EMPTY, 0),
                new VoteResponse(1, 3, true, new Lsn(0x0200_0003L), new Lsn(0x0100_0028L), HISTORY.upTo(new Lsn(0x0100_0028L))),
                new VoteResponse(-1, -1, false, new Lsn(-1), new Lsn(-1), TermHistory.EMPTY),
                new AppendResponse(1, 3, new Lsn(0x0200_0003L), new Lsn(0x0200_0000L), HotStandbyFeedback.EMPTY, null),
                new AppendResponse(1, 3, new Lsn(0x0200_0003L), new Lsn(0x0200_0000L),
                        new HotStandbyFeedback(-1, 5L << 32 | 1000, 5L << 32 | 999), FEEDBACK),
                new AppendResponse(-1, -1, new Lsn(-1), new Lsn(-1), new HotStandbyFeedback(Long.MIN_VALUE, -1, -1),
                        SHARDED_CORRUPT));
    }

    /** Bytes 0, 1, 2, … wrapping, so a shifted or truncated copy never equals the original. */
    static byte[] ramp(int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            out[i] = (byte) (i * 7 + i / 256);
        }
        return out;
    }

    /** Hex parts, spaces allowed, joined into bytes: vectors read like the spec's field lists. */
    static byte[] hex(String... parts) {
        return HexFormat.of().parseHex(String.join("", parts).replace(" ", ""));
    }

    /** A cstr field in hex: the ASCII bytes, then NUL. */
    static String cstr(String text) {
        return HexFormat.of().formatHex(text.getBytes(StandardCharsets.US_ASCII)) + "00";
    }
}
