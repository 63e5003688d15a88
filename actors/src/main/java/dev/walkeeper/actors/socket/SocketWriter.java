package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
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

    /**
     * Encode and send a message, and tell {@code ackTo} once the socket's stream took it: a
     * sender that keeps a few of these outstanding streams at the socket's pace (WAL senders read
     * the next chunk from disk only then).
     */
    public record WriteAcked(BackendMessage message, ActorRef<Written> ackTo) implements Command {}

    /** The answer to {@link WriteAcked}. */
    public enum Written { INSTANCE }

    /** Send bytes that are not a framed message (the one-byte answer to SSLRequest). */
    public record WriteRaw(byte[] bytes) implements Command {}

    /** Send everything queued, then close the socket's write side (which closes the connection). */
    public record Close() implements Command {}

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

    /** Encoded bytes waiting for the stream, with whom to tell once they are taken (or null). */
    private record Pending(ByteString bytes, ActorRef<Written> ackTo) {}

    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    /** Who waits for the chunk the stream has not acked yet. */
    private final List<ActorRef<Written>> inFlightAcks = new ArrayList<>();
    private ActorRef<Outbound> stream;
    private boolean awaitingAck;
    private boolean closing;

    private SocketWriter(ActorContext<Command> context) {
        super(context);
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Write.class, w -> enqueue(ByteString.fromArrayUnsafe(BackendCodec.encode(w.message())), null))
                .onMessage(WriteAcked.class, w -> enqueue(ByteString.fromArrayUnsafe(BackendCodec.encode(w.message())),
                        w.ackTo()))
                .onMessage(WriteRaw.class, w -> enqueue(ByteString.fromArray(w.bytes()), null))
                .onMessage(Close.class, c -> {
                    closing = true;
                    return pump();
                })
                .onMessage(Attached.class, a -> {
                    stream = a.stream();
                    return pump();
                })
                .onMessageEquals(StreamAck.INSTANCE, () -> {
                    awaitingAck = false;
                    inFlightAcks.forEach(a -> a.tell(Written.INSTANCE));
                    inFlightAcks.clear();
                    return pump();
                })
                .build();
    }

    private Behavior<Command> enqueue(ByteString bytes, ActorRef<Written> ackTo) {
        if (!closing) {
            queue.add(new Pending(bytes, ackTo));
        }
        return pump();
    }

    private Behavior<Command> pump() {
        if (stream == null || awaitingAck) {
            return this;
        }
        if (!queue.isEmpty()) {
            ByteStringBuilder chunk = ByteString.createBuilder();
            do {
                Pending next = queue.poll();
                chunk.append(next.bytes());
                if (next.ackTo() != null) {
                    inFlightAcks.add(next.ackTo());
                }
            } while (!queue.isEmpty() && chunk.length() + queue.peek().bytes().size() <= MAX_CHUNK_BYTES);
            stream.tell(new Chunk(chunk.result()));
            awaitingAck = true;
        } else if (closing) {
            stream.tell(End.INSTANCE);
            return Behaviors.stopped();
        }
        return this;
    }
}
