package dev.walkeeper.actors.bridge;

import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.replication.PgTime;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import java.time.Instant;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The standby status updates of one {@link PrimaryReplicationClient} connection, written straight
 * to its socket writer by whoever has a reason: the {@link Bridge} on a commit LSN advance (so a
 * quorum commit reaches the primary in one hop: bridge → writer), the client on a keepalive that
 * asks for a reply and on its periodic tick.
 *
 * <p>Two actors write status updates on one connection, so the flush position and the write of
 * the update are taken under one lock: the writer receives the updates in the order of the
 * positions they carry, and the position the primary sees never moves back (a reported flush
 * below an earlier one would move the slot back). Every update carries write = flush = apply =
 * the highest position reported, {@link Lsn#INVALID} before the first (which the walsender ignores).
 */
public final class StandbyStatusReporter {
    private final ActorRef<SocketWriter.Command> writer;
    private final CommitTrace trace;
    private Lsn flushed = Lsn.INVALID;
    /** Status updates only mean something inside the replication stream. */
    private boolean streaming;

    StandbyStatusReporter(ActorRef<SocketWriter.Command> writer, CommitTrace trace) {
        this.writer = Objects.requireNonNull(writer, "writer");
        this.trace = trace;
    }

    /**
     * The walkeeper quorum holds the WAL up to {@code lsn}: a status update goes out at once
     * (once streaming) when that is further than reported so far; an older position is ignored.
     */
    public synchronized void report(Lsn lsn) {
        if (lsn.compareTo(flushed) > 0) {
            flushed = lsn;
            if (streaming) {
                send();
            }
        }
    }

    /** The highest position reported. */
    public synchronized Lsn flushed() {
        return flushed;
    }

    /** START_REPLICATION was accepted: a position reported before goes out now. */
    synchronized void streamingStarted() {
        streaming = true;
        if (flushed.isValid()) {
            send();
        }
    }

    /** A status update with the current position (a keepalive's reply, the periodic one). */
    synchronized void resend() {
        if (streaming) {
            send();
        }
    }

    private void send() {
        long now = PgTime.fromInstant(Instant.now());
        var update = new StandbyStatusUpdate(flushed, flushed, flushed, now, false);
        writer.tell(new SocketWriter.WriteRaw(FrontendCodec.encode(new CopyData(ReplicationCodec.encode(update)))));
        trace.stamp(Stage.BRIDGE_STATUS_SENT, flushed.value());
    }
}
