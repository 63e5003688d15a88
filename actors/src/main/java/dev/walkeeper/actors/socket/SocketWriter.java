package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import java.util.ArrayDeque;
import java.util.Optional;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.stream.CompletionStrategy;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.typed.javadsl.ActorSource;
import org.apache.pekko.util.ByteString;
import org.apache.pekko.util.ByteStringBuilder;

/**
 * The write half of a socket: the only owner of the outbound byte stream. Its parent sends it
 * messages; it encodes them and feeds an {@link ActorSource} with backpressure, sending the next
 * chunk only after the stream took the previous one. Messages queued meanwhile are coalesced into
 * one chunk, so a burst of small replies costs one socket write.
 */
public final class SocketWriter extends AbstractBehavior<SocketWriter.Command> {

    public sealed interface Command {}

    /** Encode and send a backend message. */
    public record Write(BackendMessage message) implements Command {}

    /** Send bytes that are not a framed message (the one-byte answer to SSLRequest). */
    public record WriteRaw(byte[] bytes) implements Command {}

    /** Send everything queued, then close the socket's write side (which closes the connection). */
    public record Close() implements Command {}

    /**
     * Answer {@code replyTo} with {@link Written} once everything written before this command has
     * been taken by the outbound stream (at once if it already has). A sender that must not run
     * ahead of the socket (a WAL pusher) keeps a bounded number of these outstanding, so a stalled
     * peer stops it instead of growing this writer's queue. Markers never fire once the writer is
     * closing and the stream is gone.
     */
    public record NotifyWhenWritten(long token, ActorRef<Written> replyTo) implements Command {}

    /** The answer to {@link NotifyWhenWritten}: the stream took everything written before it. */
    public record Written(long token) {}

    /** Sent by {@link SocketFactory} once the outbound stream is materialized. */
    public record Attached(ActorRef<Outbound> stream) implements Command {}

    /** Ack from the outbound stream: it took the last chunk. */
    private enum StreamAck implements Command { INSTANCE }

    /** What flows into the outbound stream. */
    public sealed interface Outbound {}

    public record Chunk(ByteString bytes) implements Outbound {}

    private enum End implements Outbound { INSTANCE }

    /** Coalesced chunks stay below this so one huge burst does not become one huge write. */
    private static final int MAX_CHUNK_BYTES = 256 * 1024;

    /**
     * The outbound stream fed by a writer: elements are chunks; {@code End} completes it after
     * the chunks before it are written.
     */
    public static Source<ByteString, ActorRef<Outbound>> outboundSource(ActorRef<Command> writer) {
        Function<Outbound, Optional<CompletionStrategy>> completion = o -> o == End.INSTANCE
                ? Optional.of(CompletionStrategy.draining()) : Optional.empty();
        return ActorSource.<Outbound, Command>actorRefWithBackpressure(
                        writer, StreamAck.INSTANCE, completion::apply, o -> Optional.empty())
                .map(o -> ((Chunk) o).bytes());
    }

    public static Behavior<Command> create() {
        return Behaviors.setup(SocketWriter::new);
    }

    private final ArrayDeque<ByteString> queue = new ArrayDeque<>();
    /** Pending {@link NotifyWhenWritten}s, in order of their positions. */
    private final ArrayDeque<Marker> markers = new ArrayDeque<>();
    /** Queue entries ever enqueued, and how many of them the stream has taken (acked). */
    private long enqueued;
    private long taken;
    /** {@link #taken} once the chunk in flight is acked. */
    private long takenWhenAcked;
    private record Marker(long position, long token, ActorRef<Written> replyTo) {}

    private ActorRef<Outbound> stream;
    private boolean awaitingAck;
    private boolean closing;

    private SocketWriter(ActorContext<Command> context) {
        super(context);
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Write.class, w -> enqueue(ByteString.fromArrayUnsafe(BackendCodec.encode(w.message()))))
                .onMessage(WriteRaw.class, w -> enqueue(ByteString.fromArray(w.bytes())))
                .onMessage(Close.class, c -> {
                    closing = true;
                    return pump();
                })
                .onMessage(NotifyWhenWritten.class, n -> {
                    if (enqueued <= taken) {
                        n.replyTo().tell(new Written(n.token()));
                    } else {
                        markers.add(new Marker(enqueued, n.token(), n.replyTo()));
                    }
                    return this;
                })
                .onMessage(Attached.class, a -> {
                    stream = a.stream();
                    return pump();
                })
                .onMessageEquals(StreamAck.INSTANCE, () -> {
                    awaitingAck = false;
                    taken = takenWhenAcked;
                    while (!markers.isEmpty() && markers.peek().position() <= taken) {
                        Marker marker = markers.poll();
                        marker.replyTo().tell(new Written(marker.token()));
                    }
                    return pump();
                })
                .build();
    }

    private Behavior<Command> enqueue(ByteString bytes) {
        if (!closing) {
            queue.add(bytes);
            enqueued++;
        }
        return pump();
    }

    private Behavior<Command> pump() {
        if (stream == null || awaitingAck) {
            return this;
        }
        if (!queue.isEmpty()) {
            ByteStringBuilder chunk = ByteString.createBuilder();
            takenWhenAcked = taken;
            do {
                chunk.append(queue.poll());
                takenWhenAcked++;
            } while (!queue.isEmpty() && chunk.length() + queue.peek().size() <= MAX_CHUNK_BYTES);
            stream.tell(new Chunk(chunk.result()));
            awaitingAck = true;
        } else if (closing) {
            stream.tell(End.INSTANCE);
            return Behaviors.stopped();
        }
        return this;
    }
}
