package dev.walkeeper.protocol.replication;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.MessageReader;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.replication.ReceiverMessage.HotStandbyFeedback;
import dev.walkeeper.protocol.replication.ReceiverMessage.NeonStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.PageserverFeedback;
import java.nio.ByteBuffer;

/**
 * {@link SenderMessage} and {@link ReceiverMessage} ⇄ CopyData payload. walkeeper plays both
 * roles — sender when serving or pushing WAL, receiver when WAL is pushed to it — so both
 * directions are encoded and decoded here.
 *
 * <p>Decoding: XLogData takes every byte after its header as WAL, as PostgreSQL's walreceiver does.
 * A fixed-size message must have exactly its size, and the length word of {@code 'z'} must count
 * exactly the bytes after it: PostgreSQL's walreceiver refuses a keepalive of any other length, and
 * although its walsender ignores bytes after a reply, no client writes any, so extra or missing
 * bytes mean the peers disagree on the format and guessing would misread every field.
 */
public final class ReplicationCodec {
    private static final byte XLOG_DATA = 'w';
    private static final byte PRIMARY_KEEPALIVE = 'k';
    private static final byte STANDBY_STATUS_UPDATE = 'r';
    private static final byte HOT_STANDBY_FEEDBACK = 'h';
    private static final byte NEON_STATUS_UPDATE = 'z';
    private static final byte START_POSITION = 'i';

    /** Tag, walStart, walEnd, sendTime: the bytes of an XLogData before its WAL. */
    public static final int XLOG_DATA_HEADER_SIZE = 1 + 3 * 8;
    private static final int PRIMARY_KEEPALIVE_SIZE = 1 + 2 * 8 + 1;
    private static final int STANDBY_STATUS_UPDATE_SIZE = 1 + 4 * 8 + 1;
    private static final int HOT_STANDBY_FEEDBACK_SIZE = 1 + 8 + 4 * 4;
    private static final int START_POSITION_SIZE = 1 + 8;

    private ReplicationCodec() {}

    /** The CopyData payload for {@code message}. */
    public static byte[] encode(SenderMessage message) {
        if (message instanceof XLogData m) {
            return ByteBuffer.allocate(XLOG_DATA_HEADER_SIZE + m.wal().length()).put(XLOG_DATA)
                    .putLong(m.walStart().value()).putLong(m.walEnd().value()).putLong(m.sendTime()).put(m.wal().asByteBuffer())
                    .array();
        } else if (message instanceof PrimaryKeepalive m) {
            return ByteBuffer.allocate(PRIMARY_KEEPALIVE_SIZE).put(PRIMARY_KEEPALIVE).putLong(m.walEnd().value())
                    .putLong(m.sendTime()).put(flag(m.replyRequested())).array();
        }
        // Java 17 has no exhaustive switch over a sealed type; a new permitted record lands here.
        throw new IllegalStateException("no encoding for " + message.getClass().getName());
    }

    /** The CopyData payload for {@code message}. */
    public static byte[] encode(ReceiverMessage message) {
        if (message instanceof StandbyStatusUpdate m) {
            return ByteBuffer.allocate(STANDBY_STATUS_UPDATE_SIZE).put(STANDBY_STATUS_UPDATE)
                    .putLong(m.writeLsn().value()).putLong(m.flushLsn().value()).putLong(m.applyLsn().value())
                    .putLong(m.sendTime()).put(flag(m.replyRequested())).array();
        } else if (message instanceof HotStandbyFeedback m) {
            return ByteBuffer.allocate(HOT_STANDBY_FEEDBACK_SIZE).put(HOT_STANDBY_FEEDBACK).putLong(m.sendTime())
                    .putInt(m.xmin()).putInt(m.xminEpoch()).putInt(m.catalogXmin()).putInt(m.catalogXminEpoch())
                    .array();
        } else if (message instanceof NeonStatusUpdate m) {
            byte[] block = m.feedback().encode();
            return ByteBuffer.allocate(1 + 8 + block.length).put(NEON_STATUS_UPDATE).putLong(block.length).put(block)
                    .array();
        } else if (message instanceof StartPosition m) {
            return ByteBuffer.allocate(START_POSITION_SIZE).put(START_POSITION).putLong(m.startLsn().value()).array();
        }
        throw new IllegalStateException("no encoding for " + message.getClass().getName());
    }

    /**
     * A message from the WAL sender.
     *
     * @throws ProtocolException ({@code PROTOCOL_VIOLATION}) for an empty payload, a tag that is
     *     not a sender's, a truncated message, a keepalive with bytes after its last field, or WAL
     *     that would run past the largest LSN
     */
    public static SenderMessage decodeSenderMessage(byte[] payload) {
        byte tag = tagOf(payload, "sender");
        return switch (tag) {
            case XLOG_DATA -> {
                var r = afterTag(payload, "XLogData");
                Lsn walStart = new Lsn(r.int64());
                Lsn walEnd = new Lsn(r.int64());
                long sendTime = r.int64();
                if (Long.compareUnsigned(r.remaining(), -1L - walStart.value()) > 0) {
                    throw new ProtocolException("XLogData: " + r.remaining() + " bytes of WAL from " + walStart
                            + " run past the largest LSN");
                }
                yield new XLogData(walStart, walEnd, sendTime, r.restSlice());
            }
            case PRIMARY_KEEPALIVE -> {
                var r = afterTag(payload, "PrimaryKeepalive");
                var m = new PrimaryKeepalive(new Lsn(r.int64()), r.int64(), r.int8() != 0);
                r.expectEnd();
                yield m;
            }
            default -> throw new ProtocolException("unknown WAL sender message tag " + describeTag(tag));
        };
    }

    /**
     * A message from the WAL receiver.
     *
     * @throws ProtocolException ({@code PROTOCOL_VIOLATION}) for an empty payload, a tag that is
     *     not a receiver's, a truncated message, bytes after the last field, a {@code 'z'} length
     *     that does not match its block, or a malformed pageserver feedback block
     */
    public static ReceiverMessage decodeReceiverMessage(byte[] payload) {
        byte tag = tagOf(payload, "receiver");
        MessageReader r;
        ReceiverMessage message;
        switch (tag) {
            case STANDBY_STATUS_UPDATE -> {
                r = afterTag(payload, "StandbyStatusUpdate");
                message = new StandbyStatusUpdate(new Lsn(r.int64()), new Lsn(r.int64()), new Lsn(r.int64()),
                        r.int64(), r.int8() != 0);
            }
            case HOT_STANDBY_FEEDBACK -> {
                r = afterTag(payload, "HotStandbyFeedback");
                message = new HotStandbyFeedback(r.int64(), r.int32(), r.int32(), r.int32(), r.int32());
            }
            case NEON_STATUS_UPDATE -> {
                r = afterTag(payload, "NeonStatusUpdate");
                long length = r.int64();
                if (length != r.remaining()) {
                    throw new ProtocolException("NeonStatusUpdate: length " + Long.toUnsignedString(length)
                            + " but " + r.remaining() + " bytes follow");
                }
                message = new NeonStatusUpdate(PageserverFeedback.decode(r.rest()));
            }
            case START_POSITION -> {
                r = afterTag(payload, "StartPosition");
                message = new StartPosition(new Lsn(r.int64()));
            }
            default -> throw new ProtocolException("unknown WAL receiver message tag " + describeTag(tag));
        }
        r.expectEnd();
        return message;
    }

    private static byte tagOf(byte[] payload, String side) {
        if (payload.length == 0) {
            throw new ProtocolException("empty WAL " + side + " message");
        }
        return payload[0];
    }

    /** A reader past the tag, so offsets in errors are payload offsets. */
    private static MessageReader afterTag(byte[] payload, String what) {
        var r = new MessageReader(payload, what);
        r.int8();
        return r;
    }

    private static byte flag(boolean value) {
        return (byte) (value ? 1 : 0);
    }

    /** A tag as errors show it: {@code 'w'} when printable ASCII, else {@code 0x1b}. */
    private static String describeTag(byte tag) {
        return tag > 0x20 && tag < 0x7F ? "'" + (char) tag + "'" : String.format("0x%02x", tag & 0xFF);
    }
}
