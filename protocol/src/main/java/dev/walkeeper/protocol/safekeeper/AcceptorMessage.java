package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.Lsn;
import java.util.Objects;

/**
 * Messages a safekeeper sends back to a walproposer, one per CopyData. Encoded and decoded by
 * {@link AcceptorCodec}. Terms are unsigned 64-bit, generations unsigned 32-bit, as on the wire.
 */
public sealed interface AcceptorMessage
        permits AcceptorMessage.AcceptorGreeting, AcceptorMessage.VoteResponse, AcceptorMessage.AppendResponse {

    /** The answer to a ProposerGreeting: who we are, our configuration, and the highest term we voted for. */
    record AcceptorGreeting(long nodeId, MembershipConfiguration mconf, long term) implements AcceptorMessage {
        public AcceptorGreeting {
            Objects.requireNonNull(mconf, "mconf");
        }
    }

    /**
     * The answer to a VoteRequest, granted or not; either way it carries what the proposer needs
     * to pick the donor: our flush LSN and our history cut at it.
     */
    record VoteResponse(int generation, long term, boolean voteGiven, Lsn flushLsn, Lsn truncateLsn,
                        TermHistory history) implements AcceptorMessage {
        public VoteResponse {
            Objects.requireNonNull(flushLsn, "flushLsn");
            Objects.requireNonNull(truncateLsn, "truncateLsn");
            Objects.requireNonNull(history, "history");
        }
    }

    /**
     * Progress after an AppendRequest (or our higher term, telling the proposer to step down).
     *
     * @param pageserverFeedback {@code null} when the message ends after the hot-standby feedback,
     *     as it may
     */
    record AppendResponse(int generation, long term, Lsn flushLsn, Lsn commitLsn, HotStandbyFeedback hsFeedback,
                          PageserverFeedback pageserverFeedback) implements AcceptorMessage {
        public AppendResponse {
            Objects.requireNonNull(flushLsn, "flushLsn");
            Objects.requireNonNull(commitLsn, "commitLsn");
            Objects.requireNonNull(hsFeedback, "hsFeedback");
        }
    }
}
