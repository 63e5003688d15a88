package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.replication.PushReceiverSession;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.ReplicationCommand;
import java.util.Optional;

/**
 * The receiving side of START_PUSH_REPLICATION on a {@code walkeeper receive} node: the pusher
 * dialled us, sends XLogData, and hears what we flushed. Each XLogData is written as it arrives;
 * one fsync (and one standby status update) covers all that arrived meanwhile — the first write
 * since the last flush queues a {@link Connection.PushFlushDue} behind the messages the mailbox
 * already holds, the same trick as the timeline's group commit.
 */
final class PushReceiverRole {
    /** XLogData messages a receiving connection decodes ahead of the fsync that covers them. */
    private static final int WINDOW = 32;

    private final ConnectionContext ctx;
    private final PushReceiverSession session;

    private PushReceiverRole(ConnectionContext ctx, PushReceiverSession session) {
        this.ctx = ctx;
        this.session = session;
    }

    /**
     * Opens a session on the node's push receivers (which must exist) and writes its answers.
     * Empty when refused: the answers were an ERROR and ReadyForQuery, the query loop goes on.
     */
    static Optional<PushReceiverRole> open(ConnectionContext ctx, ReplicationCommand.StartPushReplication push) {
        Session session = ctx.session();
        PushReceiverSession.Opening opening = PushReceiverSession.open(push, session.optionsTimeline(),
                session.applicationName() + " " + ctx.client(), ctx.pushReceivers());
        opening.replies().forEach(ctx::write);
        if (opening instanceof PushReceiverSession.Refused) {
            return Optional.empty();
        }
        ctx.switchDecoder(FrontendCodec::decode, WINDOW);
        return Optional.of(new PushReceiverRole(ctx, ((PushReceiverSession.Started) opening).session()));
    }

    /** One message of the CopyBoth stream. */
    Next onMessage(Object message) {
        boolean flushWasPending = session.flushPending();
        Next next = after(session.receive(message));
        if (next == Next.STAY && !flushWasPending && session.flushPending()) {
            ctx.actor().getSelf().tell(Connection.PushFlushDue.INSTANCE);
        }
        return next;
    }

    /** Makes what was written durable and reports it. */
    Next onFlushDue() {
        return after(session.flush());
    }

    private Next after(PushReceiverSession.Step step) {
        step.replies().forEach(ctx::write);
        return switch (step.next()) {
            case CONTINUE -> Next.STAY;
            case QUERY -> Next.QUERIES;
            case CLOSE -> Next.DRAIN;
        };
    }

    /** Releases the timeline for the next pusher; the stored WAL stays. */
    void close() {
        session.close();
    }
}
