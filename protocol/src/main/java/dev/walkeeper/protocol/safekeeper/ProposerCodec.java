package dev.walkeeper.protocol.safekeeper;

import static dev.walkeeper.protocol.safekeeper.WireFields.afterTag;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.MessageReader;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;

/**
 * {@link ProposerMessage} ⇄ CopyData payload, protocol version 3. The node decodes with it; the
 * test proposer and the proposer bridge encode, so both directions live here.
 *
 * <p>Decoding is exactly as strict as Neon's safekeeper, the other implementation a walproposer
 * talks to: bytes after the last field are ignored — in an AppendRequest, those after its
 * {@code endLsn − beginLsn} bytes of WAL — since a compute that works against Neon must work
 * against walkeeper. Everything Neon refuses is refused.
 */
public final class ProposerCodec {
    private static final byte GREETING = 'g';
    private static final byte VOTE_REQUEST = 'v';
    private static final byte ELECTED = 'e';
    private static final byte APPEND_REQUEST = 'a';

    /** Tag, generation, term, then begin, end, commit and truncate LSNs. */
    static final int APPEND_REQUEST_HEADER_SIZE = 1 + 4 + 8 + 4 * 8;

    /** The frontend CopyData frame around a payload: type byte {@code 'd'}, then the length word. */
    private static final byte COPY_DATA = 'd';
    private static final int COPY_DATA_HEADER_SIZE = 1 + 4;

    private ProposerCodec() {}

    /**
     * @throws ProtocolException ({@code PROTOCOL_VIOLATION}) for an empty payload, an unknown tag,
     *     a truncated message, an id that is not 32 hex digits, an invalid membership configuration,
     *     or an AppendRequest whose end precedes its begin, whose WAL exceeds
     *     {@link AppendRequest#MAX_SEND_SIZE} or is not all there
     */
    public static ProposerMessage decode(byte[] payload) {
        if (payload.length == 0) {
            throw new ProtocolException("empty proposer message");
        }
        byte tag = payload[0];
        return switch (tag) {
            case GREETING -> decodeGreeting(afterTag(payload, "ProposerGreeting"));
            case VOTE_REQUEST -> {
                var r = afterTag(payload, "VoteRequest");
                yield new VoteRequest(r.int32(), r.int64());
            }
            case ELECTED -> {
                var r = afterTag(payload, "ProposerElected");
                yield new ProposerElected(r.int32(), r.int64(), new Lsn(r.int64()), WireFields.readHistory(r));
            }
            case APPEND_REQUEST -> decodeAppendRequest(afterTag(payload, "AppendRequest"));
            default -> throw new ProtocolException("unknown proposer message tag " + WireFields.describeTag(tag));
        };
    }

    private static ProposerGreeting decodeGreeting(MessageReader r) {
        String tenantId = r.cstring();
        String timelineId = r.cstring();
        TenantTimelineId id;
        try {
            id = new TenantTimelineId(tenantId, timelineId);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException("ProposerGreeting: " + e.getMessage());
        }
        return new ProposerGreeting(id, WireFields.readMconf(r, "ProposerGreeting"), r.int32(), r.int64(), r.int32());
    }

    private static AppendRequest decodeAppendRequest(MessageReader r) {
        int generation = r.int32();
        long term = r.int64();
        Lsn begin = new Lsn(r.int64());
        Lsn end = new Lsn(r.int64());
        Lsn commit = new Lsn(r.int64());
        Lsn truncate = new Lsn(r.int64());
        if (end.compareTo(begin) < 0) {
            throw new ProtocolException("AppendRequest: end_lsn " + end + " precedes begin_lsn " + begin);
        }
        long length = end.value() - begin.value();
        if (Long.compareUnsigned(length, AppendRequest.MAX_SEND_SIZE) > 0) {
            throw new ProtocolException("AppendRequest: " + Long.toUnsignedString(length)
                    + " bytes of WAL exceed MAX_SEND_SIZE (" + AppendRequest.MAX_SEND_SIZE + ")");
        }
        if (r.remaining() < length) {
            throw new ProtocolException("AppendRequest: " + length + " bytes of WAL announced, only "
                    + r.remaining() + " present");
        }
        return new AppendRequest(generation, term, begin, end, commit, truncate, r.slice((int) length));
    }

    /**
     * The CopyData payload for {@code message}.
     *
     * @throws IllegalArgumentException for a member host containing NUL, which the receiver would
     *     misread
     */
    public static byte[] encode(ProposerMessage message) {
        if (message instanceof ProposerGreeting m) {
            var w = new PayloadWriter(128).int8(GREETING)
                    .cstring(m.id().tenantId()).cstring(m.id().timelineId());
            WireFields.writeMconf(w, m.mconf());
            return w.int32(m.pgVersion()).int64(m.systemId()).int32(m.walSegSize()).finish();
        } else if (message instanceof VoteRequest m) {
            return new PayloadWriter(13).int8(VOTE_REQUEST).int32(m.generation()).int64(m.term()).finish();
        } else if (message instanceof ProposerElected m) {
            var w = new PayloadWriter(25 + 16 * m.history().entries().size()).int8(ELECTED)
                    .int32(m.generation()).int64(m.term()).lsn(m.startStreamingAt());
            WireFields.writeHistory(w, m.history());
            return w.finish();
        } else if (message instanceof AppendRequest m) {
            return appendRequest(new PayloadWriter(APPEND_REQUEST_HEADER_SIZE + m.wal().length()), m).finish();
        }
        // Java 17 has no exhaustive switch over a sealed type; a new permitted record lands here.
        throw new IllegalStateException("no encoding for " + message.getClass().getName());
    }

    /**
     * The whole frontend CopyData frame carrying {@code message} — type byte, length word, payload —
     * exactly as {@code FrontendCodec.encode(new CopyData(encode(message)))} writes it, but with an
     * AppendRequest's WAL copied once, straight into the frame. A proposer encodes a message once
     * and writes the same frame to every node it goes to; the array is never modified afterwards.
     *
     * @throws IllegalArgumentException as {@link #encode}
     */
    public static byte[] encodeCopyData(ProposerMessage message) {
        if (message instanceof AppendRequest m) {
            int payload = APPEND_REQUEST_HEADER_SIZE + m.wal().length();
            return appendRequest(copyDataHeader(payload), m).finish();
        }
        byte[] payload = encode(message);
        return copyDataHeader(payload.length).bytes(payload).finish();
    }

    private static PayloadWriter copyDataHeader(int payloadSize) {
        // The length word counts itself and the payload, not the type byte.
        return new PayloadWriter(COPY_DATA_HEADER_SIZE + payloadSize).int8(COPY_DATA).int32(4 + payloadSize);
    }

    private static PayloadWriter appendRequest(PayloadWriter w, AppendRequest m) {
        return w.int8(APPEND_REQUEST).int32(m.generation()).int64(m.term()).lsn(m.beginLsn()).lsn(m.endLsn())
                .lsn(m.commitLsn()).lsn(m.truncateLsn()).bytes(m.wal());
    }
}
