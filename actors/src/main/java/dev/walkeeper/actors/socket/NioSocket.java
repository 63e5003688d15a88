package dev.walkeeper.actors.socket;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.SelectionKey;
import java.nio.channels.SocketChannel;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * One TCP connection on an {@link IoLoop}, shared by its {@link SocketReader} and
 * {@link SocketWriter}. Readiness is handled on the loop: readable bytes go to the reader as
 * {@link SocketReader.Chunk}s, writability is reported to the writer, which writes itself
 * (non-blocking; a {@link SocketChannel} may be written from any thread).
 *
 * <p>Backpressure is by bytes, not per chunk: the socket keeps reading while the bytes in the
 * reader's hands (in its mailbox or framer) stay under {@link #MAX_HELD}, and stops once the
 * reader's message window is full and it holds more than {@link #HELD_WHEN_FULL}. The reader
 * reports what it released and whether its window is full without a message; only a paused socket
 * needs a task to resume. Pausing sets {@code paused} before re-checking, the reader updates its
 * counts before reading {@code paused}, so one of the two always sees the other.
 *
 * <p>A chunk is the direct buffer the kernel read into, handed to the reader, whose framer copies
 * it straight into the frames' bodies and gives it back ({@link #giveBack}): no heap copy of the
 * bytes read. At most {@link #POOLED_READ_BUFFERS} such buffers are out per socket; while all are
 * (the reader is behind), a read is copied into an array of its size instead, as before.
 */
final class NioSocket implements IoLoop.Handler {
    static final long MAX_HELD = 64L << 20;
    static final long HELD_WHEN_FULL = 256 << 10;
    private static final int READ_BUFFER_BYTES = 64 << 10;
    private static final int POOLED_READ_BUFFERS = 4;
    /** Reads per readiness event, so one fast peer does not starve the loop's other work. */
    private static final int READS_PER_EVENT = 16;

    private final IoLoop loop;
    private final SocketChannel channel;
    private final AtomicLong held = new AtomicLong();
    /** Read buffers the reader gave back; taken by the loop, returned from the reader's thread. */
    private final ConcurrentLinkedQueue<ByteBuffer> freeBuffers = new ConcurrentLinkedQueue<>();
    private volatile boolean readerFull;
    private volatile boolean paused;
    private volatile boolean connected;
    private volatile boolean closed;
    // Confined to the loop:
    private ActorRef<SocketReader.Command> reader;
    private ActorRef<SocketWriter.Command> writer;
    private SelectionKey key;
    /** For reads while every pooled buffer is with the reader (made then): copied out, never handed over. */
    private ByteBuffer readBuffer;
    private int buffersMade;
    private Cancellable connectTimeout;

    /** @param channel non-blocking; connected (accepted) or about to connect */
    NioSocket(IoLoop loop, SocketChannel channel, boolean connected) {
        this.loop = loop;
        this.channel = channel;
        this.connected = connected;
    }

    /** Starts reading an accepted socket. */
    void start(ActorRef<SocketReader.Command> reader, ActorRef<SocketWriter.Command> writer) {
        loop.run(() -> {
            bind(reader, writer);
            register(SelectionKey.OP_READ);
        });
    }

    /**
     * Connects to a resolved address; failure and timeout close the socket with "connection
     * failed: ..." (the reader reports it as PeerClosed).
     */
    void connect(ActorRef<SocketReader.Command> reader, ActorRef<SocketWriter.Command> writer,
                 InetSocketAddress remote, SocketIo io, java.time.Duration timeout) {
        loop.run(() -> {
            bind(reader, writer);
            if (closed) {
                return;
            }
            try {
                if (channel.connect(remote)) {
                    connected();
                } else if (register(SelectionKey.OP_CONNECT)) {
                    connectTimeout = io.schedule(timeout, () -> loop.execute(() -> {
                        if (!connected) {
                            close("connection failed: connect to " + remote + " timed out after " + timeout, true);
                        }
                    }));
                }
            } catch (IOException | RuntimeException e) {
                close("connection failed: " + describe(e), true);
            }
        });
    }

    /** Bound before any registration, so a failure (even a connect's) can be reported to both. */
    private void bind(ActorRef<SocketReader.Command> reader, ActorRef<SocketWriter.Command> writer) {
        this.reader = reader;
        this.writer = writer;
    }

    private boolean register(int ops) {
        try {
            key = channel.register(loop.selector(), ops, this);
            return true;
        } catch (ClosedChannelException e) {
            close("connection closed", true);
            return false;
        }
    }

    private void connected() {
        connected = true;
        if (connectTimeout != null) {
            connectTimeout.cancel();
        }
        if (key == null) {
            register(SelectionKey.OP_READ);
        } else {
            key.interestOps(SelectionKey.OP_READ);
        }
        writer.tell(SocketWriter.Connected.INSTANCE);
    }

    @Override
    public void ready(SelectionKey key) {
        int ops = key.readyOps();
        if ((ops & SelectionKey.OP_CONNECT) != 0) {
            try {
                if (channel.finishConnect()) {
                    connected();
                }
            } catch (IOException e) {
                close("connection failed: " + describe(e), true);
                return;
            }
        }
        if ((ops & SelectionKey.OP_WRITE) != 0 && key.isValid()) {
            key.interestOps(key.interestOps() & ~SelectionKey.OP_WRITE);
            writer.tell(SocketWriter.Writable.INSTANCE);
        }
        if ((ops & SelectionKey.OP_READ) != 0 && key.isValid()) {
            read();
        }
    }

    private void read() {
        for (int i = 0; i < READS_PER_EVENT; i++) {
            if (mustPause()) {
                pause();
                return;
            }
            ByteBuffer pooled = takeBuffer();
            if (pooled == null && readBuffer == null) {
                readBuffer = ByteBuffer.allocateDirect(READ_BUFFER_BYTES);
            }
            ByteBuffer target = pooled != null ? pooled : readBuffer;
            int n;
            try {
                n = channel.read(target);
            } catch (IOException e) {
                giveBack(pooled);
                close("connection failed: " + describe(e), true);
                return;
            }
            if (n <= 0) {
                giveBack(pooled);
                if (n < 0) {
                    close("connection closed by peer", true);
                }
                return;
            }
            held.addAndGet(n);
            if (pooled != null) {
                reader.tell(new SocketReader.Chunk(pooled.flip(), this));
            } else {
                byte[] bytes = new byte[n];
                readBuffer.flip().get(bytes).clear();
                reader.tell(new SocketReader.Chunk(bytes));
            }
            if (n < READ_BUFFER_BYTES) {
                return; // the socket is most likely empty: spare the read that would return 0
            }
        }
    }

    /** A cleared pooled buffer, made if fewer than the limit exist; null while all are with the reader. */
    private ByteBuffer takeBuffer() {
        ByteBuffer free = freeBuffers.poll();
        if (free == null && buffersMade < POOLED_READ_BUFFERS) {
            buffersMade++;
            free = ByteBuffer.allocateDirect(READ_BUFFER_BYTES);
        }
        return free == null ? null : free.clear();
    }

    /** A pooled buffer whose bytes were taken (by the reader's framer); null is ignored. */
    void giveBack(ByteBuffer buffer) {
        if (buffer != null) {
            freeBuffers.add(buffer);
        }
    }

    private boolean mustPause() {
        long bytes = held.get();
        return bytes > MAX_HELD || (readerFull && bytes > HELD_WHEN_FULL);
    }

    private void pause() {
        paused = true;
        key.interestOps(key.interestOps() & ~SelectionKey.OP_READ);
        resumeIfAllowed();
    }

    private void resumeIfAllowed() {
        if (paused && !closed && !mustPause()) {
            paused = false;
            key.interestOps(key.interestOps() | SelectionKey.OP_READ);
        }
    }

    // ---- called by the reader and the writer, from their threads ------------------------------

    /** The reader framed {@code released} more bytes away, and its window is (not) full. */
    void progress(long released, boolean full) {
        if (released != 0) {
            held.addAndGet(-released);
        }
        if (readerFull != full) {
            readerFull = full;
        }
        if (paused) {
            loop.run(this::resumeIfAllowed);
        }
    }

    boolean isConnected() {
        return connected;
    }

    /** The peer's address for a log line; "unknown" once closed or before connecting. */
    String describePeer() {
        try {
            Object remote = channel.getRemoteAddress();
            return remote != null ? remote.toString() : "unknown";
        } catch (IOException e) {
            return "unknown";
        }
    }

    /** A non-blocking gathering write: the bytes the kernel took. */
    long write(ByteBuffer[] buffers, int count) throws IOException {
        return channel.write(buffers, 0, count);
    }

    /** The last write was partial: tell the writer {@link SocketWriter.Writable} when it may go on. */
    void awaitWritable() {
        loop.run(() -> {
            if (!closed && key != null && key.isValid()) {
                key.interestOps(key.interestOps() | SelectionKey.OP_WRITE);
            }
        });
    }

    /** Everything is written: send FIN, keep reading until the peer closes too. */
    void shutdownOutput() {
        loop.run(() -> {
            if (!closed) {
                try {
                    channel.shutdownOutput();
                } catch (IOException e) {
                    close("connection failed: " + describe(e), true);
                }
            }
        });
    }

    /** The writer could not write: the connection is broken for both halves. */
    void fail(String reason) {
        loop.run(() -> close(reason, true));
    }

    /** A half stopped (its parent is done with the socket): close without telling anyone. */
    void closeQuietly() {
        loop.run(() -> close(null, false));
    }

    private void close(String reason, boolean notify) {
        if (closed) {
            return;
        }
        closed = true;
        if (connectTimeout != null) {
            connectTimeout.cancel();
        }
        if (key != null) {
            key.cancel();
        }
        try {
            channel.close();
        } catch (IOException ignored) {
            // Closing anyway; the halves learn the reason below.
        }
        if (notify && reader != null) {
            reader.tell(new SocketReader.PeerEnded(reason));
            writer.tell(SocketWriter.SocketClosed.INSTANCE);
        }
    }

    static String describe(Throwable e) {
        return e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
    }
}
