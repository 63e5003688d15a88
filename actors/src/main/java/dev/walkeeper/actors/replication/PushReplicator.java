package dev.walkeeper.actors.replication;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.persistence.wal.WalReader;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.replication.PgTime;
import dev.walkeeper.protocol.replication.ReceiverMessage;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.BehaviorBuilder;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * Pushes one timeline's committed WAL to one downstream ({@code START_PUSH_REPLICATION},
 * replication-protocol.md "Push"): one per (timeline, downstream), owning at most one
 * {@link OutboundConnection} child at a time.
 *
 * <p>States, one method each: {@link #connecting()} (a connection is doing its handshake) →
 * {@link #pushing()} (the downstream said where it wants WAL from) → on any end of the
 * connection {@link #backingOff()} → {@link #connecting()} again; {@link Drain} ends it all.
 *
 * <ul>
 *   <li><b>Only committed WAL.</b> WAL is read with a {@link WalReader} from the timeline's
 *       directory, never beyond the commit LSN this actor was told last ({@link CommitAdvanced},
 *       sent by the timeline); each XLogData carries it as wal_end. Chunks are the walsender's
 *       ({@link WalReader#read}: ≤ 128 KiB, cut at pages, never across a segment end).</li>
 *   <li><b>Where to start.</b> From the downstream's {@code 'i'} LSN; when it has nothing
 *       ({@link Lsn#INVALID}), from the oldest WAL held here, which is a segment start. A
 *       downstream asking for WAL older than that cannot be served: the connection is ended and
 *       retried (status shows the error).</li>
 *   <li><b>Backpressure.</b> At most {@link Tuning#maxChunksInFlight} chunks are between this actor
 *       and the socket: the next chunk is read from disk only when the socket took an earlier one
 *       ({@link OutboundConnection.Written}). A stalled downstream fills the TCP window, the socket
 *       stops taking chunks, and disk reads stop; nothing accumulates on the heap. At most one
 *       keepalive is outstanding too.</li>
 *   <li><b>Liveness.</b> After {@link Tuning#keepaliveInterval} without sending, a keepalive
 *       ({@code 'k'}) with reply_requested; a downstream silent for {@link Tuning#replyTimeout} is
 *       taken for dead and the connection is closed.</li>
 *   <li><b>Reconnects</b> with capped exponential backoff and jitter
 *       ({@code backoffMin · 2^n}, at most {@code backoffMax}, ±{@code jitter}); {@code n} returns
 *       to 0 once a downstream answers with a status update. The next connection starts only
 *       after the previous one stopped, and resumes where the downstream says it is.</li>
 *   <li><b>Drain</b>: sends what is committed, waits (at most {@link Tuning#drainTimeout}) until
 *       the downstream reports it flushed, ends the stream with CopyDone, then stops.</li>
 * </ul>
 * File reads happen on this actor's thread: spawn it on a dispatcher for blocking work
 * ({@code DispatcherSelector.blocking()} or the timeline's dispatcher).
 */
public final class PushReplicator {

    public sealed interface Command {}

    /** The timeline's commit LSN moved: WAL up to it may be pushed. Lower values are ignored. */
    public record CommitAdvanced(Lsn commitLsn) implements Command {
        public CommitAdvanced {
            Objects.requireNonNull(commitLsn, "commitLsn");
        }
    }

    /** Asks for a {@link Status}. */
    public record GetStatus(ActorRef<Status> replyTo) implements Command {}

    /** Push what is committed, wait for the downstream to flush it (bounded), end cleanly, stop; then reply. */
    public record Drain(ActorRef<Drained> replyTo) implements Command {}

    /** The answer to {@link Drain}, sent just before the replicator stops. */
    public record Drained(boolean downstreamCaughtUp, Lsn downstreamFlushLsn) {}

    /**
     * What a {@code SHOW} of push replication lists.
     *
     * @param connected the roles switched and WAL flows (handshake done)
     * @param sentLsn end of the WAL handed to the connection; {@link Lsn#INVALID} before the
     *     downstream said where to start
     * @param downstreamFlushLsn what the downstream last reported durable (its {@code 'i'}, then
     *     each {@code 'r'}); {@link Lsn#INVALID} before it reported anything
     * @param lagBytes commit LSN minus downstream flush LSN; -1 while the latter is unknown
     * @param reconnects connection attempts after the first
     * @param lastError why the last connection ended, or null
     */
    public record Status(InetSocketAddress downstream, boolean connected, Lsn commitLsn, Lsn sentLsn,
                         Lsn downstreamFlushLsn, long lagBytes, int reconnects, String lastError) {}

    private record FromConnection(OutboundConnection.Event event) implements Command {}

    private record ConnectionStopped(ActorRef<OutboundConnection.Command> connection) implements Command {}

    private enum Reconnect implements Command { INSTANCE }

    private enum Tick implements Command { INSTANCE }

    private enum DrainTimedOut implements Command { INSTANCE }

    /**
     * Where to push and as whom.
     *
     * @param password null for a downstream that trusts the user
     */
    public record Downstream(InetSocketAddress address, String user, String password) {
        public Downstream {
            Objects.requireNonNull(address, "address");
            Objects.requireNonNull(user, "user");
        }

        @Override
        public String toString() {
            return user + "@" + address.getHostString() + ":" + address.getPort();
        }
    }

    /** The timeline whose WAL is pushed, and the node pushing it. */
    public record Source(TenantTimelineId timeline, long systemId, int walSegSize, int pgVersion, Path walDir,
                         long nodeId) {
        public Source {
            Objects.requireNonNull(timeline, "timeline");
            Objects.requireNonNull(walDir, "walDir");
        }
    }

    /** Knobs, with the defaults of {@link #DEFAULTS}. */
    public record Tuning(int maxChunksInFlight, Duration keepaliveInterval, Duration replyTimeout,
                         Duration backoffMin, Duration backoffMax, double jitter, Duration connectTimeout,
                         Duration handshakeTimeout, Duration drainTimeout) {
        public static final Tuning DEFAULTS = new Tuning(4, Duration.ofSeconds(1), Duration.ofSeconds(10),
                Duration.ofMillis(100), Duration.ofSeconds(10), 0.2, Duration.ofSeconds(10), Duration.ofSeconds(10),
                Duration.ofSeconds(5));

        public Tuning {
            if (maxChunksInFlight < 1) {
                throw new IllegalArgumentException("maxChunksInFlight must be at least 1");
            }
            if (jitter < 0 || jitter >= 1) {
                throw new IllegalArgumentException("jitter must be in [0, 1)");
            }
        }

        public Tuning withMaxChunksInFlight(int n) {
            return new Tuning(n, keepaliveInterval, replyTimeout, backoffMin, backoffMax, jitter, connectTimeout,
                    handshakeTimeout, drainTimeout);
        }

        public Tuning withKeepalive(Duration interval, Duration timeout) {
            return new Tuning(maxChunksInFlight, interval, timeout, backoffMin, backoffMax, jitter, connectTimeout,
                    handshakeTimeout, drainTimeout);
        }

        public Tuning withBackoff(Duration min, Duration max) {
            return new Tuning(maxChunksInFlight, keepaliveInterval, replyTimeout, min, max, jitter, connectTimeout,
                    handshakeTimeout, drainTimeout);
        }

        public Tuning withTimeouts(Duration connect, Duration handshake, Duration drain) {
            return new Tuning(maxChunksInFlight, keepaliveInterval, replyTimeout, backoffMin, backoffMax, jitter,
                    connect, handshake, drain);
        }

        /** The delay before reconnect attempt {@code attempt} (0-based), before jitter. */
        Duration backoff(int attempt) {
            double delay = backoffMin.toNanos() * Math.pow(2, Math.min(attempt, 1000));
            return delay >= backoffMax.toNanos() ? backoffMax : Duration.ofNanos((long) delay);
        }
    }

    /** A sibling-unique actor name for the replicator of {@code downstream}: at most one per (timeline, downstream). */
    public static String actorName(InetSocketAddress downstream) {
        return "push-" + URLEncoder.encode(downstream.getHostString() + ":" + downstream.getPort(),
                StandardCharsets.UTF_8);
    }

    /** Token of keepalives in {@link OutboundConnection.Send}; XLogData use their end LSN, never 0. */
    private static final long KEEPALIVE_TOKEN = 0;

    public static Behavior<Command> create(Downstream downstream, Source source, Lsn initialCommitLsn, Tuning tuning) {
        return create(downstream, source, initialCommitLsn, tuning, address -> ClientConnection.sockets(address,
                tuning.connectTimeout()));
    }

    /** As {@link #create(Downstream, Source, Lsn, Tuning)}, with the sockets of each connection from {@code sockets}. */
    public static Behavior<Command> create(Downstream downstream, Source source, Lsn initialCommitLsn, Tuning tuning,
                                           Function<InetSocketAddress, SocketFactory> sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            PushReplicator replicator = new PushReplicator(ctx, timers, downstream, source, initialCommitLsn, tuning,
                    sockets);
            Duration tick = tuning.keepaliveInterval().dividedBy(4);
            timers.startTimerWithFixedDelay(Tick.INSTANCE, tick.compareTo(Duration.ofMillis(10)) < 0
                    ? Duration.ofMillis(10) : tick);
            return replicator.connect();
        }));
    }

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final Downstream downstream;
    private final Source source;
    private final Tuning tuning;
    private final Function<InetSocketAddress, SocketFactory> sockets;
    private final OutboundConnection.Settings connectionSettings;
    private final ActorRef<OutboundConnection.Event> events;
    private final WalReader wal;

    private Lsn commitLsn;
    /** The current connection, until it stopped; null while backing off. */
    private ActorRef<OutboundConnection.Command> connection;
    private int generation;
    /** The roles switched on {@link #connection}. */
    private boolean connected;
    /** Next WAL position to send; null until the downstream's start is known (or WAL exists to start from). */
    private Lsn position;
    private Lsn downstreamFlush = Lsn.INVALID;
    private int chunksInFlight;
    private boolean keepaliveInFlight;
    private long lastSentNanos;
    private long lastHeardNanos;
    private int attempt;
    private int reconnects;
    private String lastError;
    private ActorRef<Drained> drainReplyTo;
    /** The drain found the downstream caught up and told the connection to finish. */
    private boolean drainFinishing;

    private PushReplicator(ActorContext<Command> context, TimerScheduler<Command> timers, Downstream downstream,
                           Source source, Lsn initialCommitLsn, Tuning tuning,
                           Function<InetSocketAddress, SocketFactory> sockets) {
        this.context = context;
        this.timers = timers;
        this.downstream = downstream;
        this.source = source;
        this.tuning = tuning;
        this.sockets = sockets;
        this.commitLsn = initialCommitLsn;
        this.connectionSettings = new OutboundConnection.Settings(downstream.user(), downstream.password(),
                source.nodeId(), source.timeline(), source.systemId(), source.walSegSize(), source.pgVersion(),
                tuning.handshakeTimeout(), tuning.drainTimeout());
        this.events = context.messageAdapter(OutboundConnection.Event.class, FromConnection::new);
        this.wal = new WalReader(source.walDir(), source.walSegSize());
    }

    // ---- states -----------------------------------------------------------------------------------

    /** Spawns the next connection; the previous one has stopped. */
    private Behavior<Command> connect() {
        connected = false;
        position = null;
        chunksInFlight = 0;
        keepaliveInFlight = false;
        generation++;
        connection = context.spawn(OutboundConnection.create(connectionSettings, commitLsn, events,
                sockets.apply(downstream.address())), "connection-" + generation);
        context.watchWith(connection, new ConnectionStopped(connection));
        context.getLog().debug("{} → {}: connecting (attempt {})", source.timeline(), downstream, attempt);
        return connecting();
    }

    private Behavior<Command> connecting() {
        return common()
                .onMessage(FromConnection.class, f -> {
                    if (!f.event().connection().equals(connection)) {
                        return Behaviors.same();
                    }
                    if (f.event() instanceof OutboundConnection.Pushing pushing) {
                        return onPushing(pushing.startLsn());
                    }
                    noteEnd(f.event());
                    return Behaviors.same();
                })
                .onMessageEquals(Tick.INSTANCE, Behaviors::same)
                .onMessage(Drain.class, d -> {
                    drainReplyTo = d.replyTo();
                    context.stop(connection);
                    return stopping();
                })
                .build();
    }

    private Behavior<Command> onPushing(Lsn start) {
        connected = true;
        long now = System.nanoTime();
        lastHeardNanos = now;
        lastSentNanos = now;
        if (start.isValid()) {
            downstreamFlush = start;
            position = start;
        }
        context.getLog().info("{} → {}: pushing from {} (downstream start {}, commit {})", source.timeline(),
                downstream, position, start, commitLsn);
        try {
            decidePosition();
        } catch (IOException e) {
            return abandonConnection(e.getMessage());
        }
        pump();
        return pushing();
    }

    private Behavior<Command> pushing() {
        return common()
                .onMessage(FromConnection.class, f -> {
                    if (!f.event().connection().equals(connection)) {
                        return Behaviors.same();
                    }
                    return onPushingEvent(f.event());
                })
                .onMessageEquals(Tick.INSTANCE, this::onTick)
                .onMessage(Drain.class, d -> {
                    drainReplyTo = d.replyTo();
                    timers.startSingleTimer(DrainTimedOut.INSTANCE, tuning.drainTimeout());
                    pump();
                    return maybeFinishDrain();
                })
                .onMessageEquals(DrainTimedOut.INSTANCE, () -> {
                    lastError = "drain timed out with the downstream at " + downstreamFlush + " of " + commitLsn;
                    context.stop(connection);
                    return stopping();
                })
                .build();
    }

    private Behavior<Command> onPushingEvent(OutboundConnection.Event event) {
        if (event instanceof OutboundConnection.Written written) {
            if (written.token() == KEEPALIVE_TOKEN) {
                keepaliveInFlight = false;
            } else {
                chunksInFlight--;
            }
            pump();
            return maybeFinishDrain();
        }
        if (event instanceof OutboundConnection.Received received) {
            lastHeardNanos = System.nanoTime();
            if (received.message() instanceof ReceiverMessage.StandbyStatusUpdate status) {
                attempt = 0; // a downstream that reports is healthy
                if (status.flushLsn().compareTo(downstreamFlush) > 0) {
                    downstreamFlush = status.flushLsn();
                }
                if (status.replyRequested()) {
                    sendKeepalive(false);
                }
                return maybeFinishDrain();
            }
            context.getLog().debug("{} → {}: {}", source.timeline(), downstream, received.message());
            return Behaviors.same();
        }
        noteEnd(event);
        return Behaviors.same();
    }

    private Behavior<Command> onTick() {
        if (!connected) {
            return Behaviors.same(); // being stopped
        }
        long now = System.nanoTime();
        if (now - lastHeardNanos > tuning.replyTimeout().toNanos()) {
            return abandonConnection("the downstream sent nothing for " + tuning.replyTimeout());
        }
        if (now - lastSentNanos >= tuning.keepaliveInterval().toNanos()) {
            sendKeepalive(true);
        }
        return Behaviors.same();
    }

    /** No connection; the next attempt is scheduled. */
    private Behavior<Command> backingOff() {
        Duration base = tuning.backoff(attempt);
        double factor = 1 + tuning.jitter() * (2 * ThreadLocalRandom.current().nextDouble() - 1);
        Duration delay = Duration.ofNanos((long) (base.toNanos() * factor));
        attempt++;
        timers.startSingleTimer(Reconnect.INSTANCE, delay);
        context.getLog().debug("{} → {}: reconnecting in {} ({})", source.timeline(), downstream, delay, lastError);
        return common()
                .onMessageEquals(Reconnect.INSTANCE, () -> {
                    reconnects++;
                    return connect();
                })
                .onMessageEquals(Tick.INSTANCE, Behaviors::same)
                .onMessage(FromConnection.class, f -> Behaviors.same())
                .onMessage(Drain.class, d -> {
                    d.replyTo().tell(new Drained(caughtUp(), downstreamFlush));
                    return Behaviors.stopped();
                })
                .build();
    }

    /** Draining: the connection is ending (or being stopped); stop once it has. */
    private Behavior<Command> stopping() {
        return Behaviors.receive(Command.class)
                .onMessage(ConnectionStopped.class, s -> {
                    if (!s.connection().equals(connection)) {
                        return Behaviors.same();
                    }
                    drainReplyTo.tell(new Drained(caughtUp(), downstreamFlush));
                    return Behaviors.stopped();
                })
                .onMessage(FromConnection.class, f -> {
                    if (f.event().connection().equals(connection)
                            && f.event() instanceof OutboundConnection.Received received
                            && received.message() instanceof ReceiverMessage.StandbyStatusUpdate status
                            && status.flushLsn().compareTo(downstreamFlush) > 0) {
                        downstreamFlush = status.flushLsn();
                    }
                    return Behaviors.same();
                })
                .onMessage(GetStatus.class, g -> {
                    g.replyTo().tell(status());
                    return Behaviors.same();
                })
                .onMessage(DrainTimedOut.class, t -> {
                    context.stop(connection);
                    return Behaviors.same();
                })
                .onMessage(Command.class, c -> Behaviors.same())
                .onSignal(PostStop.class, s -> closeReader())
                .build();
    }

    /** What every state handles alike. */
    private BehaviorBuilder<Command> common() {
        return Behaviors.receive(Command.class)
                .onMessage(CommitAdvanced.class, c -> {
                    if (c.commitLsn().compareTo(commitLsn) > 0) {
                        commitLsn = c.commitLsn();
                        if (connected) {
                            pump();
                        }
                    }
                    return Behaviors.same();
                })
                .onMessage(GetStatus.class, g -> {
                    g.replyTo().tell(status());
                    return Behaviors.same();
                })
                .onMessage(ConnectionStopped.class, s -> {
                    if (!s.connection().equals(connection)) {
                        return Behaviors.same();
                    }
                    connection = null;
                    connected = false;
                    if (drainReplyTo != null) {
                        drainReplyTo.tell(new Drained(caughtUp(), downstreamFlush));
                        return Behaviors.stopped();
                    }
                    return backingOff();
                })
                .onSignal(PostStop.class, s -> closeReader());
    }

    // ---- sending ----------------------------------------------------------------------------------

    /** Sends chunks while fewer than the limit are outstanding and committed WAL remains. */
    private void pump() {
        if (!connected || drainFinishing) {
            return;
        }
        if (position == null) {
            try {
                decidePosition();
            } catch (IOException e) {
                abandonConnection(e.getMessage());
                return;
            }
            if (position == null) {
                return;
            }
        }
        while (chunksInFlight < tuning.maxChunksInFlight() && position.compareTo(commitLsn) < 0) {
            byte[] chunk;
            try {
                chunk = wal.read(position, commitLsn);
            } catch (IOException e) {
                abandonConnection("cannot read WAL at " + position + ": " + e.getMessage());
                return;
            }
            Lsn end = position.plus(chunk.length);
            connection.tell(new OutboundConnection.Send(new XLogData(position, commitLsn, now(), chunk), end.value()));
            position = end;
            chunksInFlight++;
            lastSentNanos = System.nanoTime();
        }
    }

    /**
     * With the downstream's start unknown (it holds nothing), start at the oldest WAL held here,
     * a segment start; check the start is still held.
     */
    private void decidePosition() throws IOException {
        Lsn oldest = wal.oldestAvailable();
        if (position == null) {
            if (oldest.isValid()) {
                position = oldest;
                context.getLog().info("{} → {}: the downstream holds nothing; pushing from {}", source.timeline(),
                        downstream, oldest);
            }
            return;
        }
        if (oldest.isValid() && position.compareTo(oldest) < 0) {
            throw new IOException("the downstream wants WAL from " + position + ", but the oldest WAL held here starts at "
                    + oldest);
        }
    }

    private void sendKeepalive(boolean replyRequested) {
        if (keepaliveInFlight || connection == null || !connected) {
            return;
        }
        connection.tell(new OutboundConnection.Send(new PrimaryKeepalive(commitLsn, now(), replyRequested),
                KEEPALIVE_TOKEN));
        keepaliveInFlight = true;
        lastSentNanos = System.nanoTime();
    }

    /** While draining: once everything committed is sent and flushed downstream, end the stream. */
    private Behavior<Command> maybeFinishDrain() {
        if (drainReplyTo == null || drainFinishing || !caughtUp()) {
            return Behaviors.same();
        }
        drainFinishing = true;
        connection.tell(OutboundConnection.Finish.INSTANCE);
        return stopping();
    }

    private boolean caughtUp() {
        return downstreamFlush.compareTo(commitLsn) >= 0;
    }

    /** Ends the current connection (it is stopped; {@link ConnectionStopped} leads to a backoff). */
    private Behavior<Command> abandonConnection(String reason) {
        lastError = reason;
        context.getLog().warn("{} → {}: closing the push connection: {}", source.timeline(), downstream, reason);
        connected = false;
        context.stop(connection);
        return Behaviors.same();
    }

    private void noteEnd(OutboundConnection.Event event) {
        if (event instanceof OutboundConnection.Failed failed) {
            lastError = failed.sqlState() == null ? failed.reason() : failed.reason() + " (" + failed.sqlState() + ")";
            context.getLog().info("{} → {}: push connection failed: {}", source.timeline(), downstream, lastError);
        } else if (event instanceof OutboundConnection.Finished) {
            lastError = "the downstream ended the push";
        }
    }

    private Status status() {
        long lag = downstreamFlush.isValid()
                ? Math.max(0, commitLsn.value() - downstreamFlush.value()) : -1;
        return new Status(downstream.address(), connected, commitLsn, position == null ? Lsn.INVALID : position,
                downstreamFlush, lag, reconnects, lastError);
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
