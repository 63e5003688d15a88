package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.ProtocolException;
import java.nio.ByteBuffer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.PostStop;

/**
 * The read half of a socket: the only owner of the inbound byte stream. It frames and decodes
 * the {@link NioSocket}'s chunks into messages for its parent, delivering while fewer than
 * {@code window} delivered messages are unconsumed; once the window is full and it holds more
 * than {@link NioSocket#HELD_WHEN_FULL} bytes the socket stops being read — so a parent that falls
 * behind stops the socket instead of growing its mailbox, with no round trip per chunk.
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

    /**
     * Bytes read from the socket ({@link NioSocket}), from the buffer's position to its limit;
     * {@code owner}, if any, gets the buffer back once the framer took them.
     */
    record Chunk(ByteBuffer bytes, NioSocket owner) implements Command {
        Chunk(byte[] bytes) {
            this(ByteBuffer.wrap(bytes), null);
        }
    }

    /** The socket is closed (by the peer, a failure, or our side); nothing more will be read. */
    record PeerEnded(String reason) implements Command {}

    /** A reader fed by nothing but {@link Chunk}s told to it (tests). */
    public static Behavior<Command> create(ActorRef<Event> parent, FrameDecoder framer, Decoder decoder,
                                           int window) {
        return create(parent, framer, decoder, window, null);
    }

    static Behavior<Command> create(ActorRef<Event> parent, FrameDecoder framer, Decoder decoder, int window,
                                    NioSocket socket) {
        return Behaviors.setup(ctx -> new SocketReader(ctx, parent, framer, decoder, window, socket));
    }

    private final ActorRef<Event> parent;
    private final FrameDecoder framer;
    private int window;
    private Decoder decoder;
    private int unconsumed;
    /** Null in tests that feed chunks by hand. */
    private final NioSocket socket;
    /** Bytes the socket counts as held by this reader that are still in the framer. */
    private long accounted;
    private boolean failed;
    /** Why the inbound stream ended, once it has; reported after the frames still buffered. */
    private String endReason;

    private SocketReader(ActorContext<Command> context, ActorRef<Event> parent, FrameDecoder framer,
                         Decoder decoder, int window, NioSocket socket) {
        super(context);
        this.socket = socket;
        this.parent = parent;
        this.framer = framer;
        this.decoder = decoder;
        this.window = window;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Chunk.class, this::onChunk)
                .onMessageEquals(Consumed.INSTANCE, this::onConsumed)
                .onMessage(SwitchDecoder.class, s -> {
                    decoder = s.decoder();
                    window = s.window();
                    return deliver();
                })
                .onMessage(PeerEnded.class, e -> streamEnded(e.reason()))
                .onSignal(PostStop.class, s -> {
                    if (socket != null) {
                        socket.closeQuietly();
                    }
                    return this;
                })
                .build();
    }

    private Behavior<Command> onChunk(Chunk chunk) {
        int length = chunk.bytes().remaining();
        if (!failed) {
            framer.feed(chunk.bytes());
        }
        if (chunk.owner() != null) {
            chunk.owner().giveBack(chunk.bytes());
        }
        if (failed) {
            return this; // not released: the socket stops reading once its limit is reached
        }
        accounted += length;
        return deliver();
    }

    private Behavior<Command> onConsumed() {
        unconsumed--;
        return deliver();
    }

    /**
     * Complete frames received before the end may still wait for the window: they are delivered
     * first, and PeerClosed follows the last of them.
     */
    private Behavior<Command> streamEnded(String reason) {
        endReason = reason;
        return deliver();
    }

    /**
     * Delivers decoded frames while the window allows, then tells the socket how many bytes left
     * the framer and whether the window is full (its backpressure). Frames stay in the framer
     * until delivered, so a decoder switch applies to every frame after the message that caused it.
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
        if (socket != null) {
            long inFramer = failed ? accounted : framer.buffered();
            socket.progress(accounted - inFramer, failed || unconsumed >= window);
            accounted = inFramer;
        }
        return this;
    }
}
