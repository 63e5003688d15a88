package dev.walkeeper.actors.replication;

import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.persistence.wal.WalReader;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.replication.PgTime;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.wal.WalFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * The WAL send loop of both pull replication ({@code START_REPLICATION}) and push replication
 * ({@link PushReplicator}): a child actor of the stream's owner that reads committed WAL from a
 * timeline's segment files and writes it as XLogData straight to the connection's
 * {@link SocketWriter}. The owner handles its protocol (the client's or downstream's replies,
 * CopyDone, reconnects) and tells this actor how far it may send.
 *
 * <ul>
 *   <li><b>Never beyond the limit.</b> WAL is sent up to the last {@link Serve} limit (the commit
 *       LSN, or the flush LSN for a recovery client), which the owner learns from the timeline;
 *       each XLogData carries it as wal_end.</li>
 *   <li><b>Chunks as walsender's</b> ({@link WalReader#chunkLength}: ≤ 128 KiB, cut at pages, one
 *       segment each), read straight into the CopyData frame behind its header. A frame of at least
 *       half the largest chunk (every one while catching up) is a direct buffer, reused once the
 *       socket took it: the kernel reads the file into it and sends it from there, with no copy
 *       in the JVM and no allocation per frame (as walsender's pread + send of one buffer).</li>
 *   <li><b>Bounded in flight.</b> Up to {@link Settings#maxBytesInFlight} of WAL the socket has not
 *       taken yet: several chunks wait, so the socket never idles while a {@code Written} travels
 *       back, and a stalled peer stops the disk reads instead of filling the heap. A
 *       {@link SocketWriter.NotifyWhenWritten} follows the chunk that completes a quarter of that
 *       window since the last one, and the chunk that reaches the limit: one cross-thread wake-up
 *       per 512 KiB instead of per chunk, and the owner's progress still ends at the limit.
 *       Whatever is written after the last marker is under a quarter of the window, so once the
 *       socket took the marked bytes there is room again: the loop never waits for a marker it
 *       did not ask for.</li>
 *   <li><b>Keepalives</b> with reply requested when a keepalive interval passed without a send;
 *       {@link SendKeepalive} on demand; at most one waits for the socket.</li>
 * </ul>
 * File reads block: spawn it on a dispatcher for blocking work
 * ({@code DispatcherSelector.blocking()}), so the connection and every other socket on the
 * default dispatcher go on meanwhile. Its {@link Event}s tell the owner what the socket took and
 * whether reading failed (then it stops).
 */
public final class WalSender {

    public sealed interface Command {}

    /** WAL up to {@code limit} may be sent; lower limits are ignored. */
    public record Serve(Lsn limit) implements Command {
        public Serve {
            Objects.requireNonNull(limit, "limit");
        }
    }

    /** Send a keepalive now (unless one is waiting for the socket): the answer to a reply request. */
    public record SendKeepalive(boolean replyRequested) implements Command {}

    /**
     * Send nothing more: tell the writer {@code then} (e.g. CopyDone, CommandComplete,
     * ReadyForQuery), queued behind every chunk already written, and stop.
     */
    public record Finish(List<SocketWriter.Command> then) implements Command {
        public Finish {
            then = List.copyOf(then);
        }
    }

    private record Written(long token) implements Command {}

    private enum Tick implements Command { INSTANCE }

    /** What the owner hears. */
    public sealed interface Event {
        /** The sender this event comes from: an owner that replaced it can ignore a late one. */
        ActorRef<Command> sender();
    }

    /** The socket took the WAL up to {@code lsn}. */
    public record Progress(ActorRef<Command> sender, Lsn lsn) implements Event {}

    /** Reading WAL at {@code at} failed (e.g. its segment was removed); the sender stopped. */
    public record Failed(ActorRef<Command> sender, Lsn at, IOException cause) implements Event {}

    /**
     * @param maxMessageBytes WAL per XLogData (at least a page)
     * @param maxBytesInFlight WAL written to the socket writer that it has not taken yet: the next
     *     chunk is read only below it
     */
    public record Settings(int maxMessageBytes, int maxBytesInFlight, Duration keepaliveInterval) {
        /** walsender's 128 KiB messages, 2 MiB in flight, a keepalive after a quiet second. */
        public static final Settings DEFAULTS = new Settings(WalReader.MAX_SEND_SIZE, 2 << 20, Duration.ofSeconds(1));

        public Settings {
            if (maxMessageBytes < WalFormat.XLOG_BLCKSZ) {
                throw new IllegalArgumentException("maxMessageBytes must hold a WAL page");
            }
            if (maxBytesInFlight < 1) {
                throw new IllegalArgumentException("maxBytesInFlight must be positive");
            }
            Objects.requireNonNull(keepaliveInterval, "keepaliveInterval");
        }
    }

    /** The CopyData frame's bytes before the WAL: 'd', length, then the XLogData header. */
    static final int XLOG_DATA_FRAME_HEADER = 1 + 4 + ReplicationCodec.XLOG_DATA_HEADER_SIZE;
    private static final byte COPY_DATA = 'd';
    private static final byte XLOG_DATA = 'w';

    /** The token of keepalives; a chunk's is its end LSN, never 0. */
    private static final long KEEPALIVE_TOKEN = 0;

    /**
     * @param writer the connection's socket writer
     * @param walDir the timeline's WAL directory; the sender owns a {@link WalReader} over it
     * @param start the first LSN to send
     * @param limit how far WAL may be sent so far
     */
    public static Behavior<Command> create(ActorRef<SocketWriter.Command> writer, Path walDir, int walSegSize,
                                           Lsn start, Lsn limit, Settings settings, ActorRef<Event> owner) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            timers.startTimerWithFixedDelay(Tick.INSTANCE, settings.keepaliveInterval());
            WalSender sender = new WalSender(ctx, writer, new WalReader(walDir, walSegSize), start, limit, settings,
                    owner);
            if (!sender.pump()) {
                sender.closeReader();
                return Behaviors.stopped();
            }
            return sender.sending();
        }));
    }

    private final ActorContext<Command> context;
    private final ActorRef<SocketWriter.Command> writer;
    private final WalReader wal;
    private final Settings settings;
    private final ActorRef<Event> owner;
    private final ActorRef<SocketWriter.Written> written;
    private Lsn position;
    private Lsn limit;
    /** The end of what the socket took. */
    private Lsn taken;
    private boolean keepaliveInFlight;
    private boolean sentSinceTick;
    /** The end of the last chunk followed by a marker, and the bytes between two markers. */
    private long marked;
    private final long markEvery;
    /** Frames written and not yet taken by the socket, in order. */
    private final ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
    /** Direct frame buffers the socket took, for reuse; at most {@link #poolSize}. */
    private final ArrayDeque<ByteBuffer> pool = new ArrayDeque<>();
    private final int frameCapacity;
    private final int poolSize;

    /** A frame and the LSN its WAL ends at: once the socket took that LSN, its buffer is free again. */
    private record InFlight(long end, ByteBuffer frame) {}

    private WalSender(ActorContext<Command> context, ActorRef<SocketWriter.Command> writer, WalReader wal, Lsn start,
                      Lsn limit, Settings settings, ActorRef<Event> owner) {
        this.context = context;
        this.writer = writer;
        this.wal = wal;
        this.settings = settings;
        this.owner = owner;
        this.position = start;
        this.limit = limit;
        this.taken = start;
        this.marked = start.value();
        this.markEvery = Math.max(1, settings.maxBytesInFlight() / 4);
        this.written = context.messageAdapter(SocketWriter.Written.class, w -> new Written(w.token()));
        this.frameCapacity = XLOG_DATA_FRAME_HEADER + settings.maxMessageBytes();
        // Enough for the bytes in flight in whole chunks, plus the one being read.
        this.poolSize = settings.maxBytesInFlight() / settings.maxMessageBytes() + 1;
    }

    private Behavior<Command> sending() {
        return Behaviors.receive(Command.class)
                .onMessage(Serve.class, s -> {
                    limit = Lsn.max(limit, s.limit());
                    return pumped();
                })
                .onMessage(Written.class, w -> {
                    if (w.token() == KEEPALIVE_TOKEN) {
                        keepaliveInFlight = false;
                        return Behaviors.same();
                    }
                    taken = new Lsn(w.token());
                    release(w.token());
                    owner.tell(new Progress(context.getSelf(), taken));
                    return pumped();
                })
                .onMessage(SendKeepalive.class, k -> {
                    keepalive(k.replyRequested());
                    return Behaviors.same();
                })
                .onMessageEquals(Tick.INSTANCE, () -> {
                    if (!sentSinceTick) {
                        keepalive(true);
                    }
                    sentSinceTick = false;
                    return Behaviors.same();
                })
                .onMessage(Finish.class, f -> {
                    f.then().forEach(writer::tell);
                    return Behaviors.stopped();
                })
                .onSignal(PostStop.class, s -> closeReader())
                .build();
    }

    private Behavior<Command> pumped() {
        return pump() ? Behaviors.same() : Behaviors.stopped();
    }

    /**
     * Reads and writes chunks while WAL below the limit remains and the socket keeps up; false
     * when reading failed (the owner was told).
     */
    private boolean pump() {
        while (position.compareTo(limit) < 0 && position.value() - taken.value() < settings.maxBytesInFlight()) {
            try {
                int length = wal.chunkLength(position, limit, settings.maxMessageBytes());
                ByteBuffer frame = frame(XLOG_DATA_FRAME_HEADER + length);
                frame.put(COPY_DATA).putInt(frame.limit() - 1).put(XLOG_DATA)
                        .putLong(position.value()).putLong(limit.value()).putLong(now());
                wal.readInto(position, frame);
                frame.flip();
                writer.tell(new SocketWriter.WriteParts(List.of(frame)));
                position = position.plus(length);
                inFlight.add(new InFlight(position.value(), frame));
                if (position.equals(limit) || position.value() - marked >= markEvery) {
                    writer.tell(new SocketWriter.NotifyWhenWritten(position.value(), written));
                    marked = position.value();
                }
                sentSinceTick = true;
            } catch (IOException e) {
                owner.tell(new Failed(context.getSelf(), position, e));
                return false;
            }
        }
        return true;
    }

    /**
     * A buffer for a frame of {@code length} bytes, limited to them: a pooled direct one for a
     * large frame, a heap one for a small frame (a live stream's chunk of a few records), which
     * would waste a large buffer while it waits for the socket.
     */
    private ByteBuffer frame(int length) {
        if (length < frameCapacity / 2) {
            return ByteBuffer.allocate(length);
        }
        ByteBuffer frame = pool.poll();
        if (frame == null) {
            frame = ByteBuffer.allocateDirect(frameCapacity);
        }
        return frame.clear().limit(length);
    }

    /** The socket took the WAL up to {@code end}: the buffers of the frames before it are free. */
    private void release(long end) {
        while (!inFlight.isEmpty() && Long.compareUnsigned(inFlight.peek().end(), end) <= 0) {
            ByteBuffer frame = inFlight.poll().frame();
            if (frame.isDirect() && pool.size() < poolSize) {
                pool.push(frame); // the last one taken first: its bytes are the likeliest in the CPU cache
            }
        }
    }

    private void keepalive(boolean replyRequested) {
        if (keepaliveInFlight) {
            return;
        }
        // CopyData is framed alike both ways: these bytes serve a pull client and a push downstream.
        writer.tell(new SocketWriter.WriteRaw(FrontendCodec.encode(new CopyData(ReplicationCodec.encode(
                new PrimaryKeepalive(limit, now(), replyRequested))))));
        writer.tell(new SocketWriter.NotifyWhenWritten(KEEPALIVE_TOKEN, written));
        keepaliveInFlight = true;
        sentSinceTick = true;
    }

    private static long now() {
        return PgTime.fromInstant(Instant.now());
    }

    private Behavior<Command> closeReader() {
        try {
            wal.close();
        } catch (IOException e) {
            context.getLog().debug("closing the WAL reader: {}", e.getMessage());
        }
        return Behaviors.same();
    }
}
