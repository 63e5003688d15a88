package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.replication.PushReceiverSession;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.ReplicationCommand;
import java.util.Optional;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;

/**
 * The receiving side of START_PUSH_REPLICATION on a {@code walkeeper receive} node: the pusher
 * dialled us, sends XLogData, and hears what we flushed. The connection stays on the default
 * dispatcher with every other connection; the writes and fsyncs run in a
 * {@link PushReceiverWorker} child on the blocking dispatcher, which owns the session, does the
 * group commit and answers on the socket writer. This role hands it the stream's messages
 * (holding the reader: the worker releases it once a message is written) and takes over when the
 * stream ends.
 */
final class PushReceiverRole {
    /** XLogData messages a receiving connection decodes ahead of the fsync that covers them. */
    private static final int WINDOW = 32;

    private final ConnectionContext ctx;
    private final ActorRef<PushReceiverWorker.Command> worker;

    private PushReceiverRole(ConnectionContext ctx, ActorRef<PushReceiverWorker.Command> worker) {
        this.ctx = ctx;
        this.worker = worker;
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
        ActorRef<PushReceiverWorker.Command> worker = ctx.actor().spawnAnonymous(PushReceiverWorker.create(
                ((PushReceiverSession.Started) opening).session(), ctx.reader(), ctx.writer(),
                ctx.actor().messageAdapter(PushReceiverWorker.Ended.class, Connection.PushReceivingEnded::new)),
                DispatcherSelector.blocking());
        return Optional.of(new PushReceiverRole(ctx, worker));
    }

    /** One message of the CopyBoth stream: the worker writes it and lets the reader go on. */
    Next onMessage(Object message) {
        ctx.holdReader();
        worker.tell(new PushReceiverWorker.Received(message));
        return Next.STAY;
    }

    /** The worker ended the stream (and released the timeline): its last replies, then the next state. */
    Next onEnded(PushReceiverWorker.Ended ended) {
        ended.replies().forEach(ctx::write);
        return switch (ended.next()) {
            case CONTINUE -> Next.STAY;
            case QUERY -> Next.QUERIES;
            case CLOSE -> Next.DRAIN;
        };
    }

    /** Stops the worker, which releases the timeline for the next pusher if it has not yet; the stored WAL stays. */
    void close() {
        ctx.actor().stop(worker);
    }
}
