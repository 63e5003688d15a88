package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.replication.WalSender;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.persistence.wal.WalReader;
import dev.walkeeper.persistence.wal.WalSegmentRemovedException;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.ReplicationCommand;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.replication.ReceiverMessage.HotStandbyFeedback;
import dev.walkeeper.protocol.replication.ReceiverMessage.NeonStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;

/**
 * START_REPLICATION: serves a timeline's WAL to pg_receivewal, a standby or a peer. The WAL goes
 * out through a {@link WalSender} child on the blocking dispatcher, which reads segment files
 * (never on this connection's thread), writes to the socket writer with a bounded amount in
 * flight and sends the keepalives; this role tells it the limit from the timeline's positions
 * (the commit LSN, the flush LSN for {@code (term='N')} recovery clients), answers the client's
 * standby replies and CopyDone, and reports the client's standby status to the timeline
 * (TIMELINE_CONSUMERS shows it).
 */
final class PullReplicationRole {
    /** Standby replies decoded ahead: they are small and handled at once. */
    private static final int WINDOW = 32;
    /** walsender's 128 KiB messages; 2 MiB in flight keep the socket busy while Written travels back. */
    private static final WalSender.Settings SENDER = WalSender.Settings.DEFAULTS;

    private final ConnectionContext ctx;
    private final boolean toFlush;
    /** For a {@code (term='N')} client: N, and our term when the stream began. */
    private final long recoveryTerm;
    private final long startTerm;
    private final ActorRef<Timeline.Command> timeline;
    private final ActorRef<WalSender.Command> sender;
    private final String name;
    /** The end of the WAL the socket took. */
    private Lsn sent;
    /** The sender was told to write the end of the stream and stop by itself. */
    private boolean finishing;
    private Lsn standbyFlush = Lsn.INVALID;
    private Lsn standbyApply = Lsn.INVALID;

    private PullReplicationRole(ConnectionContext ctx, Lsn start, Long recoveryTerm, long startTerm,
                                ActorRef<Timeline.Command> timeline, ActorRef<WalSender.Command> sender) {
        this.ctx = ctx;
        this.sent = start;
        this.toFlush = recoveryTerm != null;
        this.recoveryTerm = toFlush ? recoveryTerm : 0;
        this.startTerm = startTerm;
        this.timeline = timeline;
        this.sender = sender;
        this.name = ctx.actor().getSelf().path().name();
    }

    /**
     * Checks the request as PostgreSQL's walsender does (timeline 1, start not ahead of the flush
     * position, start not below the oldest segment, the recovery client's term), then answers
     * CopyBoth and subscribes to the timeline's positions. Empty when refused: the ERROR was
     * written and the caller ends the command.
     */
    static Optional<PullReplicationRole> open(ConnectionContext ctx, ReplicationCommand.StartReplication start,
                                              ActorRef<Timeline.Command> timeline, Timeline.Status status) {
        Integer tli = start.timeline();
        if (!status.exists() || (tli != null && tli != 1)) {
            return refuse(ctx, SqlState.UNDEFINED_FILE, "requested starting point " + start.start()
                    + " on timeline " + (tli == null ? 1 : tli) + " is not in this server's history");
        }
        if (start.start().compareTo(status.flushLsn()) > 0) {
            return refuse(ctx, SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE, "requested starting point "
                    + start.start() + " is ahead of the WAL flush position of this server " + status.flushLsn());
        }
        if (start.term() != null && start.term() != status.lastLogTerm()) {
            return refuse(ctx, SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE, "requested term " + start.term()
                    + " is not this node's last log term " + status.lastLogTerm());
        }
        // One directory listing before answering CopyBoth, as walsender refuses a removed start at once.
        try (WalReader wal = new WalReader(status.walDirectory(), status.walSegSize())) {
            Lsn oldest = wal.oldestAvailable();
            if (!oldest.isValid() || start.start().compareTo(oldest) < 0) {
                return refuse(ctx, SqlState.UNDEFINED_FILE, "requested WAL segment "
                        + XLogFileName.of(1, start.start().segmentNumber(status.walSegSize()), status.walSegSize())
                        + " has already been removed");
            }
        } catch (IOException e) {
            return refuse(ctx, SqlState.INTERNAL_ERROR, "cannot read WAL: " + e.getMessage());
        }
        ctx.write(CopyBothResponse.REPLICATION);
        ctx.switchDecoder(PullReplicationRole::decodeReceiverFrame, WINDOW);
        boolean toFlush = start.term() != null;
        ActorRef<WalSender.Command> sender = ctx.actor().spawnAnonymous(WalSender.create(ctx.writer(),
                status.walDirectory(), status.walSegSize(), start.start(),
                toFlush ? status.flushLsn() : status.commitLsn(), SENDER,
                ctx.actor().messageAdapter(WalSender.Event.class, Connection.FromSender::new)),
                DispatcherSelector.blocking());
        PullReplicationRole role = new PullReplicationRole(ctx, start.start(), start.term(), status.term(), timeline,
                sender);
        timeline.tell(new Timeline.WatchPositions(
                ctx.actor().messageAdapter(Timeline.PositionsEvent.class, Connection.PositionsChanged::new)));
        role.report();
        return Optional.of(role);
    }

    private static Optional<PullReplicationRole> refuse(ConnectionContext ctx, SqlState state, String message) {
        ctx.write(ErrorResponse.error(state, message));
        return Optional.empty();
    }

    /** CopyData payloads become standby replies; other frames stay frontend messages. */
    private static Object decodeReceiverFrame(Frame frame) {
        FrontendMessage message = FrontendCodec.decode(frame);
        return message instanceof CopyData data ? ReplicationCodec.decodeReceiverMessage(data.data()) : message;
    }

    /** A message from the client: a standby reply, or the end of streaming. */
    Next onMessage(Object message) {
        if (message instanceof StandbyStatusUpdate status) {
            standbyFlush = status.flushLsn();
            standbyApply = status.applyLsn();
            report();
            if (status.replyRequested()) {
                sender.tell(new WalSender.SendKeepalive(true));
            }
            return Next.STAY;
        }
        if (message instanceof HotStandbyFeedback || message instanceof NeonStatusUpdate) {
            return Next.STAY;
        }
        if (message instanceof CopyDone) {
            // The client ends streaming: answer as the walsender does, behind the XLogData already
            // written, and return to the query loop.
            finishing = true;
            sender.tell(new WalSender.Finish(List.of(new SocketWriter.Write(new CopyDone()),
                    new SocketWriter.Write(new CommandComplete("START_STREAMING")),
                    new SocketWriter.Write(ReadyForQuery.IDLE))));
            return Next.QUERIES;
        }
        if (!(message instanceof Terminate)) {
            ctx.unexpected(message, "replication");
        }
        return Next.DRAIN;
    }

    /** New positions, or news from the sender. */
    Next onEvent(Connection.Streaming event) {
        if (event instanceof Connection.PositionsChanged changed) {
            if (changed.positions() instanceof Timeline.Interrupted interrupted) {
                ctx.actor().getLog().info("{}: ending replication: {}", ctx.client(), interrupted.reason());
                ctx.write(ErrorResponse.error(SqlState.INTERNAL_ERROR, interrupted.reason()));
                return Next.DRAIN;
            }
            Timeline.Positions positions = (Timeline.Positions) changed.positions();
            if (toFlush && (positions.term() != startTerm || positions.lastLogTerm() != recoveryTerm)) {
                // A new proposer may truncate this WAL: what follows our flush is no longer term N's.
                String message = "term changed to " + positions.term() + " (last log term " + positions.lastLogTerm()
                        + ") while streaming WAL of term " + recoveryTerm;
                ctx.actor().getLog().info("{}: ending replication: {}", ctx.client(), message);
                ctx.write(ErrorResponse.error(SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE, message));
                return Next.DRAIN;
            }
            sender.tell(new WalSender.Serve(toFlush ? positions.flushLsn() : positions.commitLsn()));
            return Next.STAY;
        }
        WalSender.Event news = ((Connection.FromSender) event).event();
        if (!news.sender().equals(sender)) {
            return Next.STAY; // the sender of an earlier stream on this connection
        }
        if (news instanceof WalSender.Progress progress) {
            sent = progress.lsn();
            return Next.STAY;
        }
        WalSender.Failed failed = (WalSender.Failed) news;
        boolean removed = failed.cause() instanceof WalSegmentRemovedException;
        String message = removed ? failed.cause().getMessage() : "cannot read WAL: " + failed.cause().getMessage();
        ctx.actor().getLog().info("{}: ending replication: {}", ctx.client(), message);
        ctx.write(ErrorResponse.error(removed ? SqlState.UNDEFINED_FILE : SqlState.INTERNAL_ERROR, message));
        return Next.DRAIN;
    }

    /** Tells the timeline how far this client got (TIMELINE_CONSUMERS shows it). */
    private void report() {
        String app = ctx.session().applicationName();
        String address = ctx.client().getAddress().getHostAddress() + ":" + ctx.client().getPort();
        timeline.tell(new Timeline.ConsumerReport(new Timeline.WalConsumer(name, "pull",
                (app.isEmpty() ? "" : app + " ") + address, sent, standbyFlush, standbyApply)));
    }

    /** The stream is over: the timeline forgets this consumer; the sender stops (after its Finish, if any). */
    void close() {
        timeline.tell(new Timeline.ConsumerGone(name));
        if (!finishing) {
            // A stop overtakes queued messages: never after a Finish, whose answers must go out.
            ctx.actor().stop(sender);
        }
    }
}
