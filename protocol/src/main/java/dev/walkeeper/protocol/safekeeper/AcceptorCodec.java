package dev.walkeeper.protocol.safekeeper;

import static dev.walkeeper.protocol.safekeeper.WireFields.afterTag;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.MessageReader;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;

/**
 * {@link AcceptorMessage} ⇄ CopyData payload, protocol version 3. The node encodes with it; the
 * test proposer and the proposer bridge decode, so both directions live here.
 *
 * <p>Decoding is exactly as strict as Neon's C walproposer, the other implementation that reads
 * these messages: every message must be consumed to its last byte ({@code pq_getmsgend}), so a
 * safekeeper that works with Neon's compute works with walkeeper's proposer and vice versa.
 */
public final class AcceptorCodec {
    private static final byte GREETING = 'g';
    private static final byte VOTE_RESPONSE = 'v';
    private static final byte APPEND_RESPONSE = 'a';

    /** Tag, generation, term, flush and commit LSNs, hot-standby ts, xmin and catalog xmin. */
    static final int APPEND_RESPONSE_FIXED_SIZE = 1 + 4 + 8 + 2 * 8 + 3 * 8;

    private AcceptorCodec() {}

    /**
     * @throws ProtocolException ({@code PROTOCOL_VIOLATION}) for an empty payload, an unknown tag,
     *     a truncated message, bytes after the last field, an invalid membership configuration, a
     *     vote flag other than 0 or 1, or a malformed pageserver feedback block
     */
    public static AcceptorMessage decode(byte[] payload) {
        if (payload.length == 0) {
            throw new ProtocolException("empty acceptor message");
        }
        byte tag = payload[0];
        MessageReader r;
        AcceptorMessage message;
        switch (tag) {
            case GREETING -> {
                r = afterTag(payload, "AcceptorGreeting");
                message = new AcceptorGreeting(r.int64(), WireFields.readMconf(r, "AcceptorGreeting"), r.int64());
            }
            case VOTE_RESPONSE -> {
                r = afterTag(payload, "VoteResponse");
                message = new VoteResponse(r.int32(), r.int64(), voteGiven(r.int8()), new Lsn(r.int64()),
                        new Lsn(r.int64()), WireFields.readHistory(r));
            }
            case APPEND_RESPONSE -> {
                r = afterTag(payload, "AppendResponse");
                message = new AppendResponse(r.int32(), r.int64(), new Lsn(r.int64()), new Lsn(r.int64()),
                        new HotStandbyFeedback(r.int64(), r.int64(), r.int64()),
                        r.remaining() > 0 ? PageserverFeedback.read(r) : null);
            }
            default -> throw new ProtocolException("unknown acceptor message tag " + WireFields.describeTag(tag));
        }
        r.expectEnd();
        return message;
    }

    /**
     * Neon writes the flag as 0 or 1. The C proposer would count any other byte as a vote; a vote
     * decides an election, so here anything else is garbage, not a yes.
     */
    private static boolean voteGiven(byte flag) {
        if (flag != 0 && flag != 1) {
            throw new ProtocolException("VoteResponse: vote_given is " + (flag & 0xFF) + ", expected 0 or 1");
        }
        return flag == 1;
    }

    /**
     * The CopyData payload for {@code message}.
     *
     * @throws IllegalArgumentException for a member host containing NUL, which the receiver would
     *     misread
     */
    public static byte[] encode(AcceptorMessage message) {
        if (message instanceof AcceptorGreeting m) {
            var w = new PayloadWriter(64).int8(GREETING).int64(m.nodeId());
            WireFields.writeMconf(w, m.mconf());
            return w.int64(m.term()).finish();
        } else if (message instanceof VoteResponse m) {
            var w = new PayloadWriter(34 + 16 * m.history().entries().size()).int8(VOTE_RESPONSE)
                    .int32(m.generation()).int64(m.term()).int8(m.voteGiven() ? 1 : 0).lsn(m.flushLsn())
                    .lsn(m.truncateLsn());
            WireFields.writeHistory(w, m.history());
            return w.finish();
        } else if (message instanceof AppendResponse m) {
            HotStandbyFeedback hs = m.hsFeedback();
            var w = new PayloadWriter(APPEND_RESPONSE_FIXED_SIZE + 128).int8(APPEND_RESPONSE)
                    .int32(m.generation()).int64(m.term()).lsn(m.flushLsn()).lsn(m.commitLsn())
                    .int64(hs.ts()).int64(hs.xmin()).int64(hs.catalogXmin());
            if (m.pageserverFeedback() != null) {
                m.pageserverFeedback().writeTo(w);
            }
            return w.finish();
        }
        // Java 17 has no exhaustive switch over a sealed type; a new permitted record lands here.
        throw new IllegalStateException("no encoding for " + message.getClass().getName());
    }
}
