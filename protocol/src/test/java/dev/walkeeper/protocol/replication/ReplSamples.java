package dev.walkeeper.protocol.replication;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.replication.ReceiverMessage.HotStandbyFeedback;
import dev.walkeeper.protocol.replication.ReceiverMessage.NeonStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.PageserverFeedback;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;

/** At least one instance of every message, with edge values (zero, all bits set, empty, largest). */
final class ReplSamples {
    private ReplSamples() {}

    /** 2025-05-08 06:13:20 UTC in PostgreSQL µs. */
    static final long SEND_TIME = 800_000_000_000_000L;

    static final PageserverFeedback FEEDBACK = new PageserverFeedback(123_456_789, new Lsn(0x0200_0003L),
            new Lsn(0x0200_0000L), new Lsn(0x0100_0028L), SEND_TIME, 0, false);

    static List<SenderMessage> allSender() {
        return List.of(
                new XLogData(new Lsn(0x0100_0028L), new Lsn(0x0100_2000L), SEND_TIME, ByteSlice.of(ramp(100))),
                new XLogData(Lsn.INVALID, Lsn.INVALID, 0, ByteSlice.of(new byte[0])),
                new XLogData(new Lsn(-2), new Lsn(-1), Long.MIN_VALUE, ByteSlice.of(new byte[] {1})),
                new XLogData(new Lsn(0x0300_0000L), new Lsn(0x0400_0000L), -1, ByteSlice.of(ramp(128 * 1024))),
                new PrimaryKeepalive(new Lsn(0x0100_2000L), SEND_TIME, true),
                new PrimaryKeepalive(new Lsn(-1), Long.MAX_VALUE, false));
    }

    static List<ReceiverMessage> allReceiver() {
        return List.of(
                new StandbyStatusUpdate(new Lsn(0x0300_0000L), new Lsn(0x0300_0000L), Lsn.INVALID, SEND_TIME, false),
                new StandbyStatusUpdate(new Lsn(-1), new Lsn(-1), new Lsn(-1), Long.MIN_VALUE, true),
                new HotStandbyFeedback(SEND_TIME, 1234, 5, 1200, 5),
                new HotStandbyFeedback(-1, -1, -1, -1, -1),
                new NeonStatusUpdate(FEEDBACK),
                new NeonStatusUpdate(new PageserverFeedback(-1, new Lsn(-1), Lsn.INVALID, new Lsn(1), -5, 3, true)),
                new StartPosition(new Lsn(0x0100_0000L)),
                new StartPosition(Lsn.INVALID));
    }

    /** Bytes that differ at every offset, so a shifted or truncated copy never equals the original. */
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

    /** A NUL-terminated string in hex. */
    static String cstr(String s) {
        return HexFormat.of().formatHex(s.getBytes(StandardCharsets.UTF_8)) + "00";
    }
}
