package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.replication.PushReceiverSession;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.protocol.pg.BackendMessage;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The disk side of a receiving connection ({@link PushReceiverRole}): a child on the blocking
 * dispatcher that owns the {@link PushReceiverSession}, so its writes and fsyncs never run on
 * the connection's thread (which serves every other socket). The connection hands it each
 * CopyBoth message; it writes the WAL, lets the reader decode the next message, and answers on
 * the socket writer itself. Group commit: the first write since the last flush queues a
 * {@code FlushDue} behind the messages its mailbox already holds, so one fsync (and one status
 * update) covers them all. A step that ends the stream goes back to the connection
 * ({@link Ended}), which writes its replies and changes state; the session is closed first, so
 * the timeline is free for the next pusher by then.
 */
final class PushReceiverWorker {

    sealed interface Command {}

    /** A message of the CopyBoth stream, handed over by the connection. */
    record Received(Object message) implements Command {}

    private enum FlushDue implements Command { INSTANCE }

    /** The stream ended: write {@code replies}, then go on as {@code next} says. */
    record Ended(List<BackendMessage> replies, PushReceiverSession.Next next) {}

    static Behavior<Command> create(PushReceiverSession session, ActorRef<SocketReader.Command> reader,
                                    ActorRef<SocketWriter.Command> writer, ActorRef<Ended> connection) {
        return Behaviors.setup(ctx -> new PushReceiverWorker(ctx, session, reader, writer, connection).receiving());
    }

    private final ActorContext<Command> context;
    private final PushReceiverSession session;
    private final ActorRef<SocketReader.Command> reader;
    private final ActorRef<SocketWriter.Command> writer;
    private final ActorRef<Ended> connection;

    private PushReceiverWorker(ActorContext<Command> context, PushReceiverSession session,
                               ActorRef<SocketReader.Command> reader, ActorRef<SocketWriter.Command> writer,
                               ActorRef<Ended> connection) {
        this.context = context;
        this.session = session;
        this.reader = reader;
        this.writer = writer;
        this.connection = connection;
    }

    private Behavior<Command> receiving() {
        return Behaviors.receive(Command.class)
                .onMessage(Received.class, r -> {
                    boolean flushWasPending = session.flushPending();
                    if (!continues(session.receive(r.message()))) {
                        return Behaviors.ignore();
                    }
                    if (!flushWasPending && session.flushPending()) {
                        context.getSelf().tell(FlushDue.INSTANCE);
                    }
                    reader.tell(SocketReader.Consumed.INSTANCE);
                    return Behaviors.same();
                })
                .onMessageEquals(FlushDue.INSTANCE, () -> continues(session.flush())
                        ? Behaviors.same() : Behaviors.ignore())
                .onSignal(PostStop.class, s -> {
                    session.close();
                    return Behaviors.same();
                })
                .build();
    }

    /**
     * Writes a continuing step's replies; an ending step closes the session and goes to the
     * connection (then nothing more is handled until the connection stops this actor).
     */
    private boolean continues(PushReceiverSession.Step step) {
        if (step.next() == PushReceiverSession.Next.CONTINUE) {
            step.replies().forEach(reply -> writer.tell(new SocketWriter.Write(reply)));
            return true;
        }
        session.close();
        connection.tell(new Ended(step.replies(), step.next()));
        return false;
    }
}
