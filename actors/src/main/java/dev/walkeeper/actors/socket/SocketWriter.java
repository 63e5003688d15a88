package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The write half of a socket: the only owner of the outbound byte stream. Its parent sends it
 * messages; it encodes them and writes them to its {@link NioSocket} without blocking, in one
 * gathering write of everything queued. When the kernel's send buffer is full it waits for the
 * socket's {@link Writable} and goes on, so a burst of small replies costs one system call and a
 * slow peer costs no thread.
 *
 * <p>The queue is bounded: once more than {@link #MAX_QUEUED_BYTES} wait for a peer that
 * does not read (frozen, black-holed), the writer fails the socket — its owner gets
 * {@code PeerClosed} as for any lost connection — instead of growing without bound. Every sender
 * that is flow controlled stays far below it (a WAL window is 2–4 MiB); only traffic nobody
 * paces (heartbeats, commit updates, keepalives) to a peer gone silent reaches it.
 */
public final class SocketWriter extends AbstractBehavior<SocketWriter.Command> {

    public sealed interface Command {}

    /** Encode and send a backend message. */
    public record Write(BackendMessage message) implements Command {}

    /**
     * Send bytes already encoded (frames, or the one-byte answer to SSLRequest), without copying:
     * the array is handed over, and nobody may change it afterwards. One array may go to several
     * writers (the bridge's AppendRequest, encoded once for every node).
     */
    public record WriteRaw(byte[] bytes) implements Command {}

    /**
     * Send already encoded bytes, in order, without copying them. The writer reads each part
     * through a view of its own, so one buffer may be shared by several writers (one encoding
     * sent to several peers); nobody may change the bytes until they are written.
     */
    public record WriteParts(List<ByteBuffer> parts) implements Command {}

    /**
     * Send everything queued, then close the socket's write side; the reader reports PeerClosed
     * once the peer closes its side too (or the parent stops, which closes the socket). The
     * writer stops.
     */
    public record Close() implements Command {}

    /**
     * Answer {@code replyTo} with {@link Written} once everything written before this command
     * reached the kernel (at once if it already has). A sender that must not run ahead of the
     * socket (a WAL pusher) keeps a bounded number of these outstanding, so a stalled peer stops
     * it instead of growing this writer's queue. Markers never fire once the socket is gone.
     */
    public record NotifyWhenWritten(long token, ActorRef<Written> replyTo) implements Command {}

    /** The answer to {@link NotifyWhenWritten}: the kernel took everything written before it. */
    public record Written(long token) {}

    /** From the socket: an outgoing connection is established. */
    enum Connected implements Command { INSTANCE }

    /** From the socket: the send buffer has room again. */
    enum Writable implements Command { INSTANCE }

    /** From the socket: it is closed; nothing more can be written. */
    enum SocketClosed implements Command { INSTANCE }

    /** Bytes offered to one write call; the JDK copies heap buffers into a direct one of that size. */
    private static final int MAX_WRITE_BYTES = 1 << 20;
    /** Buffers gathered into one write call. */
    private static final int MAX_WRITE_PARTS = 64;

    /** Queued-but-unwritten bytes that fail the socket: far above any flow-controlled window. */
    public static final long MAX_QUEUED_BYTES = 64L * 1024 * 1024;

    static Behavior<Command> create(NioSocket socket) {
        return Behaviors.setup(ctx -> new SocketWriter(ctx, socket));
    }

    private final NioSocket socket;
    private final ArrayDeque<ByteBuffer> queue = new ArrayDeque<>();
    private final ByteBuffer[] batch = new ByteBuffer[MAX_WRITE_PARTS];
    /** Pending {@link NotifyWhenWritten}s, in order of their positions. */
    private final ArrayDeque<Marker> markers = new ArrayDeque<>();
    /** Bytes ever queued, and how many of them the kernel took. */
    private long enqueued;
    private long written;
    private boolean awaitingWritable;
    private boolean closing;
    /** Set once the write side is shut down: stopping then leaves the socket to the reader. */
    private boolean shutDown;

    private record Marker(long position, long token, ActorRef<Written> replyTo) {}

    private SocketWriter(ActorContext<Command> context, NioSocket socket) {
        super(context);
        this.socket = socket;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Write.class, w -> enqueue(ByteBuffer.wrap(BackendCodec.encode(w.message()))))
                .onMessage(WriteRaw.class, w -> enqueue(ByteBuffer.wrap(w.bytes())))
                .onMessage(WriteParts.class, w -> {
                    if (!closing) {
                        w.parts().forEach(part -> add(part.duplicate()));
                    }
                    return flush();
                })
                .onMessage(Close.class, c -> {
                    closing = true;
                    return flush();
                })
                .onMessage(NotifyWhenWritten.class, n -> {
                    if (enqueued <= written) {
                        n.replyTo().tell(new Written(n.token()));
                    } else {
                        markers.add(new Marker(enqueued, n.token(), n.replyTo()));
                    }
                    return this;
                })
                .onMessageEquals(Connected.INSTANCE, this::flush)
                .onMessageEquals(Writable.INSTANCE, () -> {
                    awaitingWritable = false;
                    return flush();
                })
                .onMessageEquals(SocketClosed.INSTANCE, Behaviors::stopped)
                .onSignal(PostStop.class, s -> {
                    if (!shutDown) {
                        socket.closeQuietly();
                    }
                    return this;
                })
                .build();
    }

    private Behavior<Command> enqueue(ByteBuffer bytes) {
        if (!closing) {
            add(bytes);
        }
        return flush();
    }

    private void add(ByteBuffer bytes) {
        if (bytes.hasRemaining()) {
            queue.add(bytes);
            enqueued += bytes.remaining();
        }
    }

    /**
     * Writes until the queue is empty or the kernel takes no more; fails the socket when what is
     * left exceeds the bound.
     */
    private Behavior<Command> flush() {
        if (!awaitingWritable && socket.isConnected()) {
            try {
                writeQueued();
            } catch (IOException e) {
                socket.fail("connection failed: " + NioSocket.describe(e));
                return Behaviors.stopped();
            }
            while (!markers.isEmpty() && markers.peek().position() <= written) {
                Marker marker = markers.poll();
                marker.replyTo().tell(new Written(marker.token()));
            }
            if (closing && queue.isEmpty()) {
                shutDown = true;
                socket.shutdownOutput();
                return Behaviors.stopped();
            }
        }
        long queued = enqueued - written;
        if (queued > MAX_QUEUED_BYTES) {
            String reason = "connection failed: " + queued + " bytes queued for a peer that does not read (limit "
                    + MAX_QUEUED_BYTES + ")";
            getContext().getLog().warn("writer to {}: {}", socket.describePeer(), reason);
            socket.fail(reason);
            return Behaviors.stopped();
        }
        return this;
    }

    private void writeQueued() throws IOException {
        while (!queue.isEmpty()) {
            int count = 0;
            long budget = MAX_WRITE_BYTES;
            ByteBuffer capped = null;
            ByteBuffer cappedPart = null;
            for (ByteBuffer part : queue) {
                if (count == MAX_WRITE_PARTS || budget == 0) {
                    break;
                }
                if (part.remaining() > budget) {
                    cappedPart = part;
                    capped = part.slice(part.position(), (int) budget);
                    batch[count++] = capped;
                    break;
                }
                batch[count++] = part;
                budget -= part.remaining();
            }
            boolean full;
            try {
                written += socket.write(batch, count);
                full = batch[count - 1].hasRemaining();
            } finally {
                Arrays.fill(batch, 0, count, null);
            }
            if (capped != null) {
                cappedPart.position(cappedPart.position() + capped.position());
            }
            while (!queue.isEmpty() && !queue.peek().hasRemaining()) {
                queue.poll();
            }
            if (full) {
                awaitingWritable = true;
                socket.awaitWritable();
                break;
            }
        }
    }
}
