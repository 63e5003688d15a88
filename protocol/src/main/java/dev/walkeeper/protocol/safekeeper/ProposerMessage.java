package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import java.util.Objects;

/**
 * Messages a walproposer sends to a safekeeper, one per CopyData. Encoded and decoded by
 * {@link ProposerCodec}. Terms are unsigned 64-bit, generations unsigned 32-bit, as on the wire.
 */
public sealed interface ProposerMessage
        permits ProposerMessage.ProposerGreeting, ProposerMessage.VoteRequest, ProposerMessage.ProposerElected,
                ProposerMessage.AppendRequest {

    /**
     * The first message of a stream: which timeline, under which configuration, and the server
     * facts the safekeeper checks against its own (or adopts, for a new timeline).
     *
     * @param pgVersion the full {@code PG_VERSION_NUM}, e.g. 170004
     * @param systemId the cluster's system identifier; 0 from a sync-safekeepers run
     */
    record ProposerGreeting(TenantTimelineId id, MembershipConfiguration mconf, int pgVersion, long systemId,
                            int walSegSize) implements ProposerMessage {
        public ProposerGreeting {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(mconf, "mconf");
        }
    }

    record VoteRequest(int generation, long term) implements ProposerMessage {}

    /**
     * Sent once the proposer has its quorum of votes: its history (the donor's plus its own term)
     * and where this safekeeper's WAL must continue from.
     */
    record ProposerElected(int generation, long term, Lsn startStreamingAt, TermHistory history)
            implements ProposerMessage {
        public ProposerElected {
            Objects.requireNonNull(startStreamingAt, "startStreamingAt");
            Objects.requireNonNull(history, "history");
        }
    }

    /**
     * WAL {@code [beginLsn, endLsn)} plus the proposer's commit and truncate horizons. With no WAL
     * ({@code beginLsn == endLsn}) it is a heartbeat that still carries the horizons.
     *
     * @param wal exactly {@code endLsn − beginLsn} bytes, at most {@link #MAX_SEND_SIZE}: when
     *     decoded, a view of the received frame; equality compares its bytes
     */
    record AppendRequest(int generation, long term, Lsn beginLsn, Lsn endLsn, Lsn commitLsn, Lsn truncateLsn,
                         ByteSlice wal) implements ProposerMessage {
        /**
         * The most WAL one message carries: {@code XLOG_BLCKSZ · 16}, Neon's {@code MAX_SEND_SIZE}
         * (also PostgreSQL walsender's), which its safekeeper enforces on receipt.
         */
        public static final int MAX_SEND_SIZE = 8192 * 16;

        public AppendRequest {
            Objects.requireNonNull(beginLsn, "beginLsn");
            Objects.requireNonNull(endLsn, "endLsn");
            Objects.requireNonNull(commitLsn, "commitLsn");
            Objects.requireNonNull(truncateLsn, "truncateLsn");
            if (endLsn.compareTo(beginLsn) < 0) {
                throw new IllegalArgumentException("end " + endLsn + " before begin " + beginLsn);
            }
            if (wal.length() > MAX_SEND_SIZE) {
                throw new IllegalArgumentException(wal.length() + " bytes of WAL exceed " + MAX_SEND_SIZE);
            }
            if (endLsn.value() - beginLsn.value() != wal.length()) {
                throw new IllegalArgumentException("[" + beginLsn + ", " + endLsn + ") does not span the "
                        + wal.length() + " bytes of WAL");
            }
        }

        public boolean isHeartbeat() {
            return wal.length() == 0;
        }

        /** The WAL by length only: it can be 128 kB of binary. */
        @Override
        public String toString() {
            return "AppendRequest[generation=" + Integer.toUnsignedString(generation) + ", term="
                    + Long.toUnsignedString(term) + ", beginLsn=" + beginLsn + ", endLsn=" + endLsn + ", commitLsn="
                    + commitLsn + ", truncateLsn=" + truncateLsn + ", wal=" + wal.length() + " bytes]";
        }
    }
}
