package dev.walkeeper.actors.connection;

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
import dev.walkeeper.protocol.replication.PgTime;
import dev.walkeeper.protocol.replication.ReceiverMessage.HotStandbyFeedback;
import dev.walkeeper.protocol.replication.ReceiverMessage.NeonStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * START_REPLICATION: serves a timeline's WAL to pg_receivewal, a standby or a peer. It reads the
 * next chunk from disk only when fewer than {@link #CHUNKS_IN_FLIGHT} wait for the socket, so a
 * slow client slows disk reads instead of filling memory; it sends up to the commit LSN (the flush
 * LSN for {@code (term='N')} recovery clients) and follows the timeline's positions; it reports
 * the client's standby status to the timeline (TIMELINE_CONSUMERS shows it).
 */
final class PullReplicationRole {
    /** A replication client hears from us at least this often (keepalive with reply requested). */
    static final Duration KEEPALIVE_INTERVAL = Duration.ofSeconds(1);
    /** XLogData chunks (≤ 128 KiB each) waiting for the socket before the next disk read. */
    private static final int CHUNKS_IN_FLIGHT = 4;
    /** Standby replies decoded ahead: they are small and handled at once. */
    private static final int WINDOW = 32;

    private final ConnectionContext ctx;
    private final WalReader wal;
    private final boolean toFlush;
    private final ActorRef<SocketWriter.Written> written;
    private final ActorRef<Timeline.Command> timeline;
    private final String name;
    private Lsn sent;
    private Lsn servable;
    private int inFlight;
    private boolean sentSinceKeepalive;
    private Lsn standbyFlush = Lsn.INVALID;
    private Lsn standbyApply = Lsn.INVALID;

    private PullReplicationRole(ConnectionContext ctx, WalReader wal, Lsn start, Lsn servable, boolean toFlush,
                                ActorRef<Timeline.Command> timeline) {
        this.ctx = ctx;
        this.wal = wal;
        this.sent = start;
        this.servable = servable;
        this.toFlush = toFlush;
        this.timeline = timeline;
        this.name = ctx.actor().getSelf().path().name();
        this.written = ctx.actor().messageAdapter(SocketWriter.Written.class, w -> Connection.ChunkWritten.INSTANCE);
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
        WalReader wal = new WalReader(status.walDirectory(), status.walSegSize());
        try {
            Lsn oldest = wal.oldestAvailable();
            if (!oldest.isValid() || start.start().compareTo(oldest) < 0) {
                closeQuietly(wal);
                return refuse(ctx, SqlState.UNDEFINED_FILE, "requested WAL segment "
                        + XLogFileName.of(1, start.start().segmentNumber(status.walSegSize()), status.walSegSize())
                        + " has already been removed");
            }
        } catch (IOException e) {
            closeQuietly(wal);
            return refuse(ctx, SqlState.INTERNAL_ERROR, "cannot read WAL: " + e.getMessage());
        }
        ctx.write(CopyBothResponse.REPLICATION);
        ctx.switchDecoder(PullReplicationRole::decodeReceiverFrame, WINDOW);
        Lsn servable = start.term() == null ? status.commitLsn() : status.flushLsn();
        PullReplicationRole role = new PullReplicationRole(ctx, wal, start.start(), servable, start.term() != null,
                timeline);
        timeline.tell(new Timeline.WatchPositions(
                ctx.actor().messageAdapter(Timeline.Positions.class, Connection.PositionsChanged::new)));
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
                sentSinceKeepalive = false;
                keepalive();
            }
            return Next.STAY;
        }
        if (message instanceof HotStandbyFeedback || message instanceof NeonStatusUpdate) {
            return Next.STAY;
        }
        if (message instanceof CopyDone) {
            // The client ends streaming: answer as the walsender does and return to the query loop.
            ctx.write(new CopyDone());
            ctx.write(new CommandComplete("START_STREAMING"));
            ctx.write(ReadyForQuery.IDLE);
            return Next.QUERIES;
        }
        if (!(message instanceof Terminate)) {
            ctx.unexpected(message, "replication");
        }
        return Next.DRAIN;
    }

    /** New positions, a chunk on the wire, or the keepalive timer. */
    Next onEvent(Connection.Streaming event) {
        if (event instanceof Connection.PositionsChanged changed) {
            Timeline.Positions positions = changed.positions();
            servable = Lsn.max(servable, toFlush ? positions.flushLsn() : positions.commitLsn());
            return pump();
        }
        if (event == Connection.ChunkWritten.INSTANCE) {
            inFlight--;
            return pump();
        }
        keepalive();
        return Next.STAY;
    }

    private Next pump() {
        try {
            while (inFlight < CHUNKS_IN_FLIGHT && sent.compareTo(servable) < 0) {
                byte[] chunk = wal.read(sent, servable);
                ctx.write(new CopyData(ReplicationCodec.encode(
                        new XLogData(sent, servable, PgTime.fromInstant(Instant.now()), chunk))));
                ctx.notifyWhenWritten(sent.value(), written);
                sent = sent.plus(chunk.length);
                inFlight++;
                sentSinceKeepalive = true;
            }
            return Next.STAY;
        } catch (WalSegmentRemovedException e) {
            return endReplication(SqlState.UNDEFINED_FILE, e.getMessage());
        } catch (IOException e) {
            return endReplication(SqlState.INTERNAL_ERROR, "cannot read WAL: " + e.getMessage());
        }
    }

    private Next endReplication(SqlState state, String message) {
        ctx.actor().getLog().info("{}: ending replication: {}", ctx.client(), message);
        ctx.write(ErrorResponse.error(state, message));
        return Next.DRAIN;
    }

    private void keepalive() {
        if (!sentSinceKeepalive) {
            ctx.write(new CopyData(ReplicationCodec.encode(
                    new PrimaryKeepalive(servable, PgTime.fromInstant(Instant.now()), true))));
        }
        sentSinceKeepalive = false;
    }

    /** Tells the timeline how far this client got (TIMELINE_CONSUMERS shows it). */
    private void report() {
        String app = ctx.session().applicationName();
        String address = ctx.client().getAddress().getHostAddress() + ":" + ctx.client().getPort();
        timeline.tell(new Timeline.ConsumerReport(new Timeline.WalConsumer(name, "pull",
                (app.isEmpty() ? "" : app + " ") + address, sent, standbyFlush, standbyApply)));
    }

    /** The stream is over: the timeline forgets this consumer and the WAL file is closed. */
    void close() {
        timeline.tell(new Timeline.ConsumerGone(name));
        closeQuietly(wal);
    }

    private static void closeQuietly(WalReader wal) {
        try {
            wal.close();
        } catch (IOException ignored) {
            // nothing was written through it
        }
    }
}
