package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.ProtocolException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.typed.javadsl.ActorSink;
import org.apache.pekko.util.ByteString;

/**
 * The read half of a socket: the only owner of the inbound byte stream. It frames and decodes
 * bytes into messages for its parent, and pulls more bytes from the socket only while fewer than
 * {@code window} delivered messages are unconsumed — so a parent that falls behind stops the
 * socket being read instead of growing its mailbox.
 */
public final class SocketReader extends AbstractBehavior<SocketReader.Command> {

    /** Turns one frame into the message the parent handles. */
    @FunctionalInterface
    public interface Decoder {
        Object decode(Frame frame);
    }

    /** What the reader tells its parent. */
    public sealed interface Event {}

    /** A decoded inbound message; the parent answers {@link Consumed} when it has handled it. */
    public record Received(Object message) implements Event {}

    /** The inbound bytes were not a valid message; nothing more will be read. */
    public record ReadFailed(ProtocolException cause) implements Event {}

    /**
     * The peer closed the connection (or the stream failed); nothing more will be read. Sent after
     * the last complete message received before the close.
     */
    public record PeerClosed(String reason) implements Event {}

    public sealed interface Command {}

    /** The parent handled one delivered message. */
    public enum Consumed implements Command { INSTANCE }

    /**
     * Replace the decoder and window for the frames that follow (e.g. proposer messages inside
     * CopyData after START_WAL_PUSH). While the window is 1 no frame is decoded before the parent
     * consumed the previous message, so a switch sent while handling message N applies exactly
     * from message N+1.
     */
    public record SwitchDecoder(Decoder decoder, int window) implements Command {}

    private record StreamStarted(ActorRef<StreamAck> ackTo) implements Command {}

    private record Bytes(ActorRef<StreamAck> ackTo, ByteString bytes) implements Command {}

    private enum StreamCompleted implements Command { INSTANCE }

    private record StreamFailed(Throwable cause) implements Command {}

    /** Ack to the inbound stream: send the next chunk. */
    public enum StreamAck { INSTANCE }

    /**
     * The sink that feeds a reader, acking each chunk only when the reader asks for more. Its
     * input buffer is one chunk: with the default (16) the sink would go on pulling from the
     * socket while the reader withholds its ack, so the window would not hold the socket back.
     */
    public static Sink<ByteString, org.apache.pekko.NotUsed> inboundSink(ActorRef<Command> reader) {
        return ActorSink.<ByteString, Command, StreamAck>actorRefWithBackpressure(
                reader, Bytes::new, StreamStarted::new, StreamAck.INSTANCE, StreamCompleted.INSTANCE,
                StreamFailed::new)
                .addAttributes(Attributes.inputBuffer(1, 1));
    }

    public static Behavior<Command> create(ActorRef<Event> parent, FrameDecoder framer, Decoder decoder,
                                           int window) {
        return Behaviors.setup(ctx -> new SocketReader(ctx, parent, framer, decoder, window));
    }

    private final ActorRef<Event> parent;
    private final FrameDecoder framer;
    private int window;
    private Decoder decoder;
    private int unconsumed;
    private ActorRef<StreamAck> pendingAck;
    private boolean failed;
    /** Why the inbound stream ended, once it has; reported after the frames still buffered. */
    private String endReason;

    private SocketReader(ActorContext<Command> context, ActorRef<Event> parent, FrameDecoder framer,
                         Decoder decoder, int window) {
        super(context);
        this.parent = parent;
        this.framer = framer;
        this.decoder = decoder;
        this.window = window;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(StreamStarted.class, s -> {
                    s.ackTo().tell(StreamAck.INSTANCE);
                    return this;
                })
                .onMessage(Bytes.class, this::onBytes)
                .onMessageEquals(Consumed.INSTANCE, this::onConsumed)
                .onMessage(SwitchDecoder.class, s -> {
                    decoder = s.decoder();
                    window = s.window();
                    return deliver();
                })
                .onMessageEquals(StreamCompleted.INSTANCE, () -> streamEnded("connection closed by peer"))
                .onMessage(StreamFailed.class, f -> streamEnded("connection failed: " + f.cause().getMessage()))
                .build();
    }

    private Behavior<Command> onBytes(Bytes chunk) {
        framer.feed(chunk.bytes().toArrayUnsafe());
        pendingAck = chunk.ackTo();
        return deliver();
    }

    private Behavior<Command> onConsumed() {
        unconsumed--;
        return deliver();
    }

    /**
     * The sink reports the end of the stream as soon as it has handed over its last chunk,
     * without waiting for that chunk's ack, so complete frames of it may still wait for the
     * window: they are delivered first, and PeerClosed follows the last of them.
     */
    private Behavior<Command> streamEnded(String reason) {
        endReason = reason;
        return deliver();
    }

    /**
     * Delivers decoded frames while the window allows, then asks the stream for more bytes once
     * every buffered frame is delivered. Frames stay in the framer until delivered, so a decoder
     * switch applies to every frame after the message that caused it.
     */
    private Behavior<Command> deliver() {
        boolean drained = false;
        while (!failed && unconsumed < window) {
            Frame frame;
            Object message;
            try {
                frame = framer.next();
                if (frame == null) {
                    drained = true;
                    break;
                }
                message = decoder.decode(frame);
            } catch (ProtocolException e) {
                failed = true;
                parent.tell(new ReadFailed(e));
                break;
            }
            unconsumed++;
            parent.tell(new Received(message));
        }
        if (endReason != null && (failed || drained)) {
            parent.tell(new PeerClosed(endReason));
            return Behaviors.stopped();
        }
        if (!failed && unconsumed < window && pendingAck != null) {
            pendingAck.tell(StreamAck.INSTANCE);
            pendingAck = null;
        }
        return this;
    }
}
