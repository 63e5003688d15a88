package dev.walkeeper.protocol.replication;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.PageserverFeedback;
import java.util.Objects;

/**
 * What the side receiving the WAL sends, one per CopyData: a standby, {@code pg_receivewal} or a
 * pageserver pulling with {@code START_REPLICATION}, or the downstream of
 * {@code START_PUSH_REPLICATION} (where it is the backend). See {@link SenderMessage} for why the
 * two directions are separate types. Encoded and decoded by {@link ReplicationCodec}.
 */
public sealed interface ReceiverMessage
        permits ReceiverMessage.StandbyStatusUpdate, ReceiverMessage.HotStandbyFeedback,
                ReceiverMessage.NeonStatusUpdate, ReceiverMessage.StartPosition {

    /**
     * How far the receiver got ({@code 'r'}); {@link Lsn#INVALID} for a position it does not track
     * (pg_receivewal reports no apply position).
     *
     * @param writeLsn end of the WAL received and written
     * @param flushLsn end of the WAL durably stored: what a sender may count as replicated
     * @param applyLsn end of the WAL replayed
     * @param sendTime µs since 2000-01-01 ({@link PgTime})
     * @param replyRequested the sender should answer at once with a keepalive
     */
    record StandbyStatusUpdate(Lsn writeLsn, Lsn flushLsn, Lsn applyLsn, long sendTime, boolean replyRequested)
            implements ReceiverMessage {
        public StandbyStatusUpdate {
            Objects.requireNonNull(writeLsn, "writeLsn");
            Objects.requireNonNull(flushLsn, "flushLsn");
            Objects.requireNonNull(applyLsn, "applyLsn");
        }
    }

    /**
     * The oldest transactions a hot standby's queries still see ({@code 'h'}), so the primary keeps
     * their rows. Fields as on the wire: 32-bit xids, each with its epoch; an xid of 0
     * ({@code InvalidTransactionId}) means "none".
     *
     * @param sendTime µs since 2000-01-01 ({@link PgTime})
     */
    record HotStandbyFeedback(long sendTime, int xmin, int xminEpoch, int catalogXmin, int catalogXminEpoch)
            implements ReceiverMessage {}

    /**
     * A pageserver's progress ({@code 'z'}, Neon's extension), relayed to the connected proposers
     * inside AppendResponse.
     */
    record NeonStatusUpdate(PageserverFeedback feedback) implements ReceiverMessage {
        public NeonStatusUpdate {
            Objects.requireNonNull(feedback, "feedback");
        }
    }

    /**
     * The downstream's answer to {@code START_PUSH_REPLICATION} ({@code 'i'}, walkeeper's): the
     * position it wants WAL from — its durable end, or the timeline start when it holds nothing.
     * The first message after CopyBothResponse, before the roles switch.
     */
    record StartPosition(Lsn startLsn) implements ReceiverMessage {
        public StartPosition {
            Objects.requireNonNull(startLsn, "startLsn");
        }
    }
}
