package dev.walkeeper.protocol.replication;

import static dev.walkeeper.protocol.replication.ReplSamples.SEND_TIME;
import static dev.walkeeper.protocol.replication.ReplSamples.cstr;
import static dev.walkeeper.protocol.replication.ReplSamples.hex;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.replication.ReceiverMessage.HotStandbyFeedback;
import dev.walkeeper.protocol.replication.ReceiverMessage.NeonStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import java.time.Instant;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ReplicationCodecTest {
    /** 2025-05-08 06:13:20 UTC. */
    private static final String TIME = "0002d79883d20000";

    /** {@link ReplSamples#FEEDBACK} as Neon writes the block: five keys, no shard, no corruption. */
    private static final String FEEDBACK_BLOCK = "05"
            + cstr("current_timeline_size") + "00000008 00000000075bcd15"
            + cstr("ps_writelsn") + "00000008 0000000002000003"
            + cstr("ps_flushlsn") + "00000008 0000000002000000"
            + cstr("ps_applylsn") + "00000008 0000000001000028"
            + cstr("ps_replytime") + "00000008" + TIME;

    @Test
    void samplesCoverEveryMessage() {
        Set<Class<?>> sender = new HashSet<>();
        ReplSamples.allSender().forEach(m -> sender.add(m.getClass()));
        assertEquals(Set.of(SenderMessage.class.getPermittedSubclasses()), sender);
        Set<Class<?>> receiver = new HashSet<>();
        ReplSamples.allReceiver().forEach(m -> receiver.add(m.getClass()));
        assertEquals(Set.of(ReceiverMessage.class.getPermittedSubclasses()), receiver);
    }

    @Test
    void everyMessageRoundTrips() {
        for (SenderMessage m : ReplSamples.allSender()) {
            assertEquals(m, ReplicationCodec.decodeSenderMessage(ReplicationCodec.encode(m)), m.toString());
        }
        for (ReceiverMessage m : ReplSamples.allReceiver()) {
            assertEquals(m, ReplicationCodec.decodeReceiverMessage(ReplicationCodec.encode(m)), m.toString());
        }
    }

    @Test
    void sampleTimeIsTheInstantItClaims() {
        assertEquals(Instant.parse("2025-05-08T06:13:20Z"), PgTime.toInstant(SEND_TIME));
        assertEquals(SEND_TIME, Long.parseLong(TIME, 16));
    }

    /**
     * pg_receivewal's feedback ({@code sendFeedback} in receivelog.c): written and flushed up to the
     * block position, no apply position, no reply requested — 34 bytes with the tag.
     */
    @Test
    void standbyStatusUpdateAsPgReceivewalSendsIt() {
        byte[] wire = hex("72", "0000000003000000", "0000000003000000", "0000000000000000", TIME, "00");
        assertEquals(34, wire.length);
        var update = new StandbyStatusUpdate(new Lsn(0x0300_0000L), new Lsn(0x0300_0000L), Lsn.INVALID, SEND_TIME,
                false);
        assertEquals(update, ReplicationCodec.decodeReceiverMessage(wire));
        assertArrayEquals(wire, ReplicationCodec.encode(update));
    }

    @Test
    void standbyStatusUpdateRequestingAReply() {
        byte[] wire = hex("72", "0000000003000100", "00000000030000c0", "0000000003000000", TIME, "01");
        var update = (StandbyStatusUpdate) ReplicationCodec.decodeReceiverMessage(wire);
        assertEquals(Lsn.parse("0/3000100"), update.writeLsn());
        assertEquals(Lsn.parse("0/30000C0"), update.flushLsn());
        assertEquals(Lsn.parse("0/3000000"), update.applyLsn());
        assertTrue(update.replyRequested());
        assertArrayEquals(wire, ReplicationCodec.encode(update));
    }

    @Test
    void xlogData() {
        byte[] wire = hex("77", "0000000001000028", "0000000001002000", TIME, "deadbeef");
        assertEquals(ReplicationCodec.XLOG_DATA_HEADER_SIZE + 4, wire.length);
        var data = new XLogData(new Lsn(0x0100_0028L), new Lsn(0x0100_2000L), SEND_TIME, ByteSlice.of(hex("deadbeef")));
        assertEquals(data, ReplicationCodec.decodeSenderMessage(wire));
        assertArrayEquals(wire, ReplicationCodec.encode(data));
        assertEquals(new Lsn(0x0100_002CL), data.dataEnd());
    }

    @Test
    void xlogDataWithoutWal() {
        byte[] wire = hex("77", "0000000001000028", "0000000001000028", TIME);
        var data = (XLogData) ReplicationCodec.decodeSenderMessage(wire);
        assertEquals(0, data.wal().length());
        assertEquals(data.walStart(), data.dataEnd());
    }

    @Test
    void primaryKeepalive() {
        byte[] wire = hex("6b", "0000000001002000", TIME, "01");
        assertEquals(18, wire.length);
        var keepalive = new PrimaryKeepalive(new Lsn(0x0100_2000L), SEND_TIME, true);
        assertEquals(keepalive, ReplicationCodec.decodeSenderMessage(wire));
        assertArrayEquals(wire, ReplicationCodec.encode(keepalive));
    }

    /** Any non-zero byte requests a reply, as {@code pq_getmsgbyte} is read by PostgreSQL. */
    @Test
    void anyNonZeroReplyFlagRequestsAReply() {
        var keepalive = (PrimaryKeepalive) ReplicationCodec.decodeSenderMessage(hex("6b", "0000000001002000", TIME, "ff"));
        assertTrue(keepalive.replyRequested());
        var update = (StandbyStatusUpdate) ReplicationCodec.decodeReceiverMessage(
                hex("72", "00".repeat(32), "02"));
        assertTrue(update.replyRequested());
    }

    /** As walreceiver.c's {@code XLogWalRcvSendHSFeedback} writes it: each xid followed by its epoch. */
    @Test
    void hotStandbyFeedback() {
        byte[] wire = hex("68", TIME, "000004d2", "00000005", "000004b0", "00000005");
        assertEquals(25, wire.length);
        var feedback = new HotStandbyFeedback(SEND_TIME, 1234, 5, 1200, 5);
        assertEquals(feedback, ReplicationCodec.decodeReceiverMessage(wire));
        assertArrayEquals(wire, ReplicationCodec.encode(feedback));
    }

    /** The tag, the block's length as u64, then the block: what Neon's pageserver sends. */
    @Test
    void neonStatusUpdate() {
        byte[] block = hex(FEEDBACK_BLOCK);
        byte[] wire = hex("7a", String.format("%016x", block.length), FEEDBACK_BLOCK);
        var update = new NeonStatusUpdate(ReplSamples.FEEDBACK);
        assertEquals(update, ReplicationCodec.decodeReceiverMessage(wire));
        assertArrayEquals(wire, ReplicationCodec.encode(update));
    }

    @Test
    void neonStatusUpdateWhoseLengthDisagreesIsRefused() {
        byte[] block = hex(FEEDBACK_BLOCK);
        for (int length : new int[] {0, block.length - 1, block.length + 1}) {
            byte[] wire = hex("7a", String.format("%016x", length), FEEDBACK_BLOCK);
            assertProtocolViolation(() -> ReplicationCodec.decodeReceiverMessage(wire));
        }
        assertProtocolViolation(() -> ReplicationCodec.decodeReceiverMessage(
                hex("7a", "ffffffffffffffff", FEEDBACK_BLOCK)));
        assertProtocolViolation(() -> ReplicationCodec.decodeReceiverMessage(
                hex("7a", "0000000000000002", "01ff")));
    }

    @Test
    void startPosition() {
        byte[] wire = hex("69", "0000000001000000");
        var start = new StartPosition(Lsn.parse("0/1000000"));
        assertEquals(start, ReplicationCodec.decodeReceiverMessage(wire));
        assertArrayEquals(wire, ReplicationCodec.encode(start));
    }

    /** A proper prefix of a message is never that message: every one is refused, with 08P01 only. */
    @Test
    void everyTruncationIsAProtocolViolation() {
        for (ReceiverMessage m : ReplSamples.allReceiver()) {
            byte[] wire = ReplicationCodec.encode(m);
            for (int length = 0; length < wire.length; length++) {
                byte[] prefix = Arrays.copyOf(wire, length);
                assertProtocolViolation(() -> ReplicationCodec.decodeReceiverMessage(prefix));
            }
        }
        for (SenderMessage m : ReplSamples.allSender()) {
            byte[] wire = ReplicationCodec.encode(m);
            int shortest = m instanceof XLogData ? ReplicationCodec.XLOG_DATA_HEADER_SIZE : wire.length;
            for (int length = 0; length < shortest; length++) {
                byte[] prefix = Arrays.copyOf(wire, length);
                assertProtocolViolation(() -> ReplicationCodec.decodeSenderMessage(prefix));
            }
        }
    }

    /** XLogData has no length field: a shorter payload is simply less WAL, as walreceiver reads it. */
    @Test
    void xlogDataTakesWhateverFollowsItsHeader() {
        var data = new XLogData(new Lsn(0x0100_0028L), new Lsn(0x0100_2000L), SEND_TIME, ByteSlice.of(ReplSamples.ramp(50)));
        byte[] wire = ReplicationCodec.encode(data);
        for (int length = ReplicationCodec.XLOG_DATA_HEADER_SIZE; length <= wire.length; length++) {
            var decoded = (XLogData) ReplicationCodec.decodeSenderMessage(Arrays.copyOf(wire, length));
            assertEquals(data.wal().slice(0, length - ReplicationCodec.XLOG_DATA_HEADER_SIZE), decoded.wal());
        }
    }

    @Test
    void trailingBytesAfterAFixedSizeMessageAreRefused() {
        for (ReceiverMessage m : ReplSamples.allReceiver()) {
            byte[] wire = Arrays.copyOf(ReplicationCodec.encode(m), ReplicationCodec.encode(m).length + 1);
            assertProtocolViolation(() -> ReplicationCodec.decodeReceiverMessage(wire));
        }
        var keepalive = new PrimaryKeepalive(new Lsn(1), 2, false);
        byte[] wire = Arrays.copyOf(ReplicationCodec.encode(keepalive), 19);
        assertProtocolViolation(() -> ReplicationCodec.decodeSenderMessage(wire));
    }

    /** Each side decodes only its peer's messages: a tag from the other direction is not a message. */
    @Test
    void messagesOfTheOtherDirectionAreRefused() {
        for (ReceiverMessage m : ReplSamples.allReceiver()) {
            byte[] wire = ReplicationCodec.encode(m);
            var e = assertProtocolViolation(() -> ReplicationCodec.decodeSenderMessage(wire));
            assertTrue(e.getMessage().contains("unknown WAL sender message tag '" + (char) wire[0] + "'"),
                    e.getMessage());
        }
        for (SenderMessage m : ReplSamples.allSender()) {
            byte[] wire = ReplicationCodec.encode(m);
            assertProtocolViolation(() -> ReplicationCodec.decodeReceiverMessage(wire));
        }
    }

    @Test
    void unknownTagsAreNamedInTheError() {
        var e = assertProtocolViolation(() -> ReplicationCodec.decodeReceiverMessage(hex("1b00")));
        assertTrue(e.getMessage().contains("0x1b"), e.getMessage());
        e = assertProtocolViolation(() -> ReplicationCodec.decodeSenderMessage(hex("64")));
        assertTrue(e.getMessage().contains("'d'"), e.getMessage());
    }

    @Test
    void emptyPayloadsAreRefused() {
        assertProtocolViolation(() -> ReplicationCodec.decodeSenderMessage(new byte[0]));
        assertProtocolViolation(() -> ReplicationCodec.decodeReceiverMessage(new byte[0]));
    }

    /** WAL past 2^64 − 1 has no LSN: refused on decoding, and not constructible. */
    @Test
    void walRunningPastTheLargestLsnIsRefused() {
        byte[] fits = hex("77", "fffffffffffffffe", "ffffffffffffffff", TIME, "aa");
        assertEquals(new Lsn(-1), ((XLogData) ReplicationCodec.decodeSenderMessage(fits)).dataEnd());
        assertProtocolViolation(() -> ReplicationCodec.decodeSenderMessage(
                hex("77", "fffffffffffffffe", "ffffffffffffffff", TIME, "aabb")));
        assertThrows(IllegalArgumentException.class, () -> new XLogData(new Lsn(-1), new Lsn(-1), 0, ByteSlice.of(new byte[1])));
    }

    /** The WAL is a view of the received payload, not a copy: it goes to the file from there. */
    @Test
    void decodedWalIsAViewOfThePayload() {
        var data = new XLogData(new Lsn(0x0100_0028L), new Lsn(0x0100_2000L), SEND_TIME, ByteSlice.of(hex("deadbeef")));
        byte[] payload = ReplicationCodec.encode(data);
        var decoded = (XLogData) ReplicationCodec.decodeSenderMessage(payload);
        assertSame(payload, decoded.wal().backingArray());
        assertEquals(ReplicationCodec.XLOG_DATA_HEADER_SIZE, decoded.wal().offset());
        assertEquals(data, decoded);
    }

    @Test
    void xlogDataShowsItsWalByLengthOnly() {
        var data = new XLogData(new Lsn(0x0100_0028L), new Lsn(0x0100_2000L), SEND_TIME, ByteSlice.of(new byte[131072]));
        assertEquals("XLogData[walStart=0/1000028, walEnd=0/1002000, sendTime=800000000000000, wal=131072 bytes]",
                data.toString());
        assertEquals(data.hashCode(), new XLogData(data.walStart(), data.walEnd(), SEND_TIME, ByteSlice.of(new byte[131072])).hashCode());
    }

    private static ProtocolException assertProtocolViolation(org.junit.jupiter.api.function.Executable decode) {
        var e = assertThrows(ProtocolException.class, decode);
        assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState());
        return e;
    }
}
