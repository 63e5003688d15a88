package dev.walkeeper.actors.replication;

import dev.walkeeper.persistence.wal.WalGapException;
import dev.walkeeper.persistence.wal.WalMismatchException;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.ReplicationCommand.StartPushReplication;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.replication.PgTime;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.wal.WalFormat;
import java.io.IOException;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The server side of {@code START_PUSH_REPLICATION} (replication-protocol.md, "Push") as pure
 * logic: decoded messages in, the backend messages to answer out. A connection's
 * {@code pushReceiving()} state drives it; nothing here touches a socket or an actor.
 *
 * <ol>
 *   <li>{@link #open}: checks the command against the startup options, takes the timeline in
 *       {@link PushReceivers} (a second live pusher gets {@code ERROR 55006}) and answers
 *       CopyBothResponse and {@code 'i'} with the stored WAL's durable end.</li>
 *   <li>{@link #receive}: {@code 'w'} is written (no fsync; {@link #flushPending()} becomes true),
 *       {@code 'k'} with reply_requested is answered with {@code 'r'} after a flush, CopyDone ends
 *       the stream (CopyDone, CommandComplete, ReadyForQuery), Terminate ends the connection.</li>
 *   <li>{@link #flush}: fsync, then the {@code 'r'} reporting it. The caller decides when — after
 *       each message, or once its inbox holds no more (group commit); a flush is required before a
 *       position is reported, and the session never reports one it did not flush.</li>
 *   <li>{@link #close}: releases the timeline (always call it, also after an error).</li>
 * </ol>
 * Every {@link Step} says whether the stream goes on, returned to the simple-query loop (the
 * replies end with ReadyForQuery) or the connection must close after the replies.
 *
 * <p>Not thread-safe: one connection drives one session.
 */
public final class PushReceiverSession implements AutoCloseable {

    /** What the connection does after sending a step's replies. */
    public enum Next {
        /** Stay in CopyBoth. */
        CONTINUE,
        /** The stream ended cleanly; back to the simple-query loop (ReadyForQuery was sent). */
        QUERY,
        /** Close the connection after the replies. */
        CLOSE
    }

    /** Replies to send, in order, and what comes next. */
    public record Step(List<BackendMessage> replies, Next next) {
        public Step {
            replies = List.copyOf(replies);
        }

        static Step of(Next next, BackendMessage... replies) {
            return new Step(List.of(replies), next);
        }
    }

    /** The outcome of {@link #open}. */
    public sealed interface Opening permits Started, Refused {
        List<BackendMessage> replies();
    }

    /** Send the replies (CopyBothResponse, {@code 'i'}), then hand CopyBoth traffic to the session. */
    public record Started(PushReceiverSession session, List<BackendMessage> replies) implements Opening {}

    /** Send the replies (an ERROR then ReadyForQuery); the connection stays in the simple-query loop. */
    public record Refused(SqlState sqlState, String message, List<BackendMessage> replies) implements Opening {}

    public static final String COMMAND_TAG = "START_PUSH_REPLICATION";

    private final PushReceivers.Lease lease;
    private final TenantTimelineId timeline;
    private final long systemId;
    private final int walSegSize;
    private final int pgVersion;
    private final Clock clock;
    private boolean flushPending;
    private Lsn reportedFlush = Lsn.INVALID;
    private Lsn pusherCommitLsn;

    private PushReceiverSession(PushReceivers.Lease lease, long systemId, int walSegSize, int pgVersion,
                                Lsn pusherCommitLsn, Clock clock) {
        this.lease = lease;
        this.timeline = lease.timeline();
        this.systemId = systemId;
        this.walSegSize = walSegSize;
        this.pgVersion = pgVersion;
        this.pusherCommitLsn = pusherCommitLsn;
        this.clock = clock;
    }

    /**
     * Starts a session for {@code command}.
     *
     * @param optionsTimeline the timeline named by the startup options ({@code -c tenant_id=…
     *     timeline_id=…}), or null when they name none; when given it must be the command's
     * @param pusher who is pushing (e.g. the startup packet's {@code application_name} and the
     *     client address), named in a refusal to another pusher
     */
    public static Opening open(StartPushReplication command, TenantTimelineId optionsTimeline, String pusher,
                               PushReceivers receivers) {
        return open(command, optionsTimeline, pusher, receivers, Clock.systemUTC());
    }

    /** As {@link #open(StartPushReplication, TenantTimelineId, String, PushReceivers)}, with the clock of send_time. */
    public static Opening open(StartPushReplication command, TenantTimelineId optionsTimeline, String pusher,
                               PushReceivers receivers, Clock clock) {
        TenantTimelineId timeline = new TenantTimelineId(command.tenantHex(), command.timelineHex());
        if (optionsTimeline != null && !optionsTimeline.equals(timeline)) {
            return refused(SqlState.INVALID_PARAMETER_VALUE, COMMAND_TAG + " names timeline " + timeline
                    + " but the startup options name " + optionsTimeline);
        }
        Map<String, String> options = command.options();
        String segSizeText = options.get("wal_seg_size");
        if (segSizeText == null) {
            return refused(SqlState.INVALID_PARAMETER_VALUE, COMMAND_TAG + " needs the option wal_seg_size");
        }
        int walSegSize;
        long systemId;
        int pgVersion;
        try {
            walSegSize = Integer.parseInt(segSizeText);
            WalFormat.requireValidSegmentSize(walSegSize);
            systemId = Long.parseUnsignedLong(options.getOrDefault("system_id", "0"));
            pgVersion = Integer.parseInt(options.getOrDefault("pg_version", "0"));
            if (pgVersion < 0) {
                throw new NumberFormatException("negative pg_version " + pgVersion);
            }
        } catch (IllegalArgumentException e) {
            return refused(SqlState.INVALID_PARAMETER_VALUE, "invalid " + COMMAND_TAG + " option: " + e.getMessage());
        }
        PushReceivers.Lease lease;
        try {
            lease = receivers.acquire(timeline, pusher, walSegSize);
        } catch (PushReceivers.InUseException e) {
            return refused(SqlState.OBJECT_IN_USE, e.getMessage());
        } catch (IOException e) {
            return refused(SqlState.INTERNAL_ERROR, "cannot receive WAL for timeline " + timeline + ": " + e.getMessage());
        }
        PushReceiverSession session = new PushReceiverSession(lease, systemId, walSegSize, pgVersion,
                command.commitLsn(), clock);
        Lsn start;
        try {
            start = lease.startLsn();
        } catch (PushReceivers.RevokedException e) {
            session.close();
            return refused(SqlState.OBJECT_IN_USE, e.getMessage());
        }
        session.reportedFlush = start;
        return new Started(session, List.of(CopyBothResponse.REPLICATION,
                new CopyData(ReplicationCodec.encode(new StartPosition(start)))));
    }

    private static Refused refused(SqlState state, String message) {
        return new Refused(state, message, List.of(ErrorResponse.error(state, message), ReadyForQuery.IDLE));
    }

    public TenantTimelineId timeline() {
        return timeline;
    }

    /** The pusher's system identifier ({@code system_id}; 0 when it sent none). */
    public long systemId() {
        return systemId;
    }

    public int walSegSize() {
        return walSegSize;
    }

    /** The pusher's {@code PG_VERSION_NUM} ({@code pg_version}; 0 when it sent none). */
    public int pgVersion() {
        return pgVersion;
    }

    /** The highest end of WAL the pusher declared (its commit LSN: the command's, then each wal_end). */
    public Lsn pusherCommitLsn() {
        return pusherCommitLsn;
    }

    /** WAL was written since the last flush. */
    public boolean flushPending() {
        return flushPending;
    }

    /**
     * Handles one message of the CopyBoth stream: a frontend message as framed (CopyData is
     * decoded here), or a {@link SenderMessage} the caller's reader already decoded.
     */
    public Step receive(Object message) {
        try {
            lease.touch();
            if (message instanceof CopyData data) {
                return onSenderMessage(ReplicationCodec.decodeSenderMessage(data.data()));
            }
            if (message instanceof SenderMessage sender) {
                return onSenderMessage(sender);
            }
            if (message instanceof CopyDone) {
                List<BackendMessage> replies = new ArrayList<>(flushReplies());
                replies.add(new CopyDone());
                replies.add(new CommandComplete(COMMAND_TAG));
                replies.add(ReadyForQuery.IDLE);
                return new Step(replies, Next.QUERY);
            }
            if (message instanceof FrontendMessage.CopyFail fail) {
                List<BackendMessage> replies = new ArrayList<>(flushReplies());
                replies.add(ErrorResponse.error(SqlState.QUERY_CANCELED,
                        COMMAND_TAG + " ended by the pusher: " + fail.message()));
                replies.add(ReadyForQuery.IDLE);
                return new Step(replies, Next.QUERY);
            }
            if (message instanceof FrontendMessage.Terminate) {
                flushReplies();
                return Step.of(Next.CLOSE);
            }
            return Step.of(Next.CLOSE, ErrorResponse.fatal(SqlState.PROTOCOL_VIOLATION, "unexpected message "
                    + message.getClass().getSimpleName() + " in the CopyBoth state of " + COMMAND_TAG));
        } catch (ProtocolException e) {
            return Step.of(Next.CLOSE, ErrorResponse.fatal(e.sqlState(), e.getMessage()));
        } catch (PushReceivers.RevokedException e) {
            return Step.of(Next.CLOSE, ErrorResponse.error(SqlState.OBJECT_IN_USE, e.getMessage()));
        } catch (IOException e) {
            return Step.of(Next.CLOSE, ErrorResponse.error(SqlState.INTERNAL_ERROR, describe(e)));
        }
    }

    /**
     * Makes the written WAL durable and reports it with {@code 'r'}; no reply when nothing new
     * became durable. A failure answers an ERROR and closes.
     */
    public Step flush() {
        try {
            return new Step(flushReplies(), Next.CONTINUE);
        } catch (PushReceivers.RevokedException e) {
            return Step.of(Next.CLOSE, ErrorResponse.error(SqlState.OBJECT_IN_USE, e.getMessage()));
        } catch (IOException e) {
            return Step.of(Next.CLOSE, ErrorResponse.error(SqlState.INTERNAL_ERROR, describe(e)));
        }
    }

    /** Releases the timeline; the stored WAL stays for the next pusher. Idempotent. */
    @Override
    public void close() {
        lease.close();
    }

    private Step onSenderMessage(SenderMessage message) throws IOException {
        if (message instanceof XLogData data) {
            if (data.dataEnd().compareTo(data.walEnd()) > 0) {
                throw new ProtocolException("XLogData up to " + data.dataEnd() + " runs past the wal_end "
                        + data.walEnd() + " it declares: only committed WAL may be pushed");
            }
            pusherCommitLsn = Lsn.max(pusherCommitLsn, data.walEnd());
            if (lease.write(data.walStart(), data.wal()) > 0) {
                flushPending = true;
            }
            return Step.of(Next.CONTINUE);
        }
        PrimaryKeepalive keepalive = (PrimaryKeepalive) message;
        pusherCommitLsn = Lsn.max(pusherCommitLsn, keepalive.walEnd());
        if (!keepalive.replyRequested()) {
            return Step.of(Next.CONTINUE);
        }
        List<BackendMessage> replies = flushReplies();
        return new Step(replies.isEmpty() ? List.of(statusUpdate()) : replies, Next.CONTINUE);
    }

    /** Flushes what is pending; the {@code 'r'} if the durable end moved. */
    private List<BackendMessage> flushReplies() throws IOException {
        if (flushPending) {
            lease.flush();
            flushPending = false;
        }
        Lsn flushed = lease.flushLsn();
        if (flushed.equals(reportedFlush)) {
            return List.of();
        }
        return List.of(statusUpdate());
    }

    private BackendMessage statusUpdate() throws PushReceivers.RevokedException {
        Lsn flushed = lease.flushLsn();
        reportedFlush = flushed;
        return new CopyData(ReplicationCodec.encode(new StandbyStatusUpdate(lease.writeLsn(), flushed, Lsn.INVALID,
                PgTime.fromInstant(clock.instant()), false)));
    }

    private String describe(IOException e) {
        String what = e instanceof WalGapException ? "gap in pushed WAL"
                : e instanceof WalMismatchException ? "pushed WAL diverges from the stored WAL"
                : "cannot store pushed WAL";
        return what + " for timeline " + timeline + ": " + e.getMessage();
    }
}
