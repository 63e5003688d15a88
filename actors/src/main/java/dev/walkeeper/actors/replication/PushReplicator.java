package dev.walkeeper.actors.replication;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.persistence.wal.WalReader;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.replication.ReceiverMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
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
 *   <li><b>Only committed WAL.</b> A {@link WalSender} child, the send loop pull replication
 *       uses too, reads the timeline's directory and writes XLogData straight to the connection's
 *       socket writer, never beyond the commit LSN this actor was told last ({@link CommitAdvanced},
 *       sent by the timeline, passed on as its limit); each XLogData carries it as wal_end.</li>
 *   <li><b>Where to start.</b> From the downstream's {@code 'i'} LSN; when it has nothing
 *       ({@link Lsn#INVALID}), from the oldest WAL held here, which is a segment start. A
 *       downstream asking for WAL older than that cannot be served: the connection is ended and
 *       retried (status shows the error).</li>
 *   <li><b>Backpressure.</b> At most {@link Tuning#maxBytesInFlight} of WAL are between the
 *       sender and the socket: a stalled downstream fills the TCP window, the socket stops taking
 *       chunks, and disk reads stop; nothing accumulates on the heap.</li>
 *   <li><b>Liveness.</b> After {@link Tuning#keepaliveInterval} without sending, the sender sends
 *       a keepalive ({@code 'k'}) with reply_requested; a downstream silent for
 *       {@link Tuning#replyTimeout} is taken for dead and the connection is closed.</li>
 *   <li><b>Reconnects</b> with capped exponential backoff and jitter
 *       ({@code backoffMin · 2^n}, at most {@code backoffMax}, ±{@code jitter}); {@code n} returns
 *       to 0 once a downstream answers with a status update. The next connection starts only
 *       after the previous one stopped, and resumes where the downstream says it is.</li>
 *   <li><b>Drain</b>: sends what is committed, waits (at most {@link Tuning#drainTimeout}) until
 *       the downstream reports it flushed, stops the sender, ends the stream with CopyDone, then
 *       stops.</li>
 * </ul>
 * This actor lists the WAL directory to decide where to start, and its sender (on the same
 * dispatcher) reads files: spawn it on a dispatcher for blocking work
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

    /**
     * Told to the replicator's progress listener whenever the downstream reports a higher durable
     * LSN (its {@code 'i'} at the handshake, then its {@code 'r'}s).
     */
    public record DownstreamFlushed(InetSocketAddress downstream, Lsn flushLsn) {}

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

    private record FromSender(WalSender.Event event) implements Command {}

    private record SenderStopped(ActorRef<WalSender.Command> sender) implements Command {}

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
    public record Tuning(int maxBytesInFlight, Duration keepaliveInterval, Duration replyTimeout,
                         Duration backoffMin, Duration backoffMax, double jitter, Duration connectTimeout,
                         Duration handshakeTimeout, Duration drainTimeout) {
        public static final Tuning DEFAULTS = new Tuning(WalSender.Settings.DEFAULTS.maxBytesInFlight(),
                Duration.ofSeconds(1), Duration.ofSeconds(10),
                Duration.ofMillis(100), Duration.ofSeconds(10), 0.2, Duration.ofSeconds(10), Duration.ofSeconds(10),
                Duration.ofSeconds(5));

        public Tuning {
            if (maxBytesInFlight < 1) {
                throw new IllegalArgumentException("maxBytesInFlight must be positive");
            }
            if (jitter < 0 || jitter >= 1) {
                throw new IllegalArgumentException("jitter must be in [0, 1)");
            }
        }

        public Tuning withMaxBytesInFlight(int n) {
            return new Tuning(n, keepaliveInterval, replyTimeout, backoffMin, backoffMax, jitter, connectTimeout,
                    handshakeTimeout, drainTimeout);
        }

        public Tuning withKeepalive(Duration interval, Duration timeout) {
            return new Tuning(maxBytesInFlight, interval, timeout, backoffMin, backoffMax, jitter, connectTimeout,
                    handshakeTimeout, drainTimeout);
        }

        public Tuning withBackoff(Duration min, Duration max) {
            return new Tuning(maxBytesInFlight, keepaliveInterval, replyTimeout, min, max, jitter, connectTimeout,
                    handshakeTimeout, drainTimeout);
        }

        public Tuning withTimeouts(Duration connect, Duration handshake, Duration drain) {
            return new Tuning(maxBytesInFlight, keepaliveInterval, replyTimeout, backoffMin, backoffMax, jitter,
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

    public static Behavior<Command> create(Downstream downstream, Source source, Lsn initialCommitLsn, Tuning tuning) {
        return create(downstream, source, initialCommitLsn, tuning, (ActorRef<DownstreamFlushed>) null);
    }

    /** As {@link #create(Downstream, Source, Lsn, Tuning)}, telling {@code progress} (if not null) of the downstream's durable LSN. */
    public static Behavior<Command> create(Downstream downstream, Source source, Lsn initialCommitLsn, Tuning tuning,
                                           ActorRef<DownstreamFlushed> progress) {
        return create(downstream, source, initialCommitLsn, tuning, address -> ClientConnection.sockets(address,
                tuning.connectTimeout()), progress);
    }

    /** As {@link #create(Downstream, Source, Lsn, Tuning)}, with the sockets of each connection from {@code sockets}. */
    public static Behavior<Command> create(Downstream downstream, Source source, Lsn initialCommitLsn, Tuning tuning,
                                           Function<InetSocketAddress, SocketFactory> sockets) {
        return create(downstream, source, initialCommitLsn, tuning, sockets, null);
    }

    private static Behavior<Command> create(Downstream downstream, Source source, Lsn initialCommitLsn, Tuning tuning,
                                            Function<InetSocketAddress, SocketFactory> sockets,
                                            ActorRef<DownstreamFlushed> progress) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            PushReplicator replicator = new PushReplicator(ctx, timers, downstream, source, initialCommitLsn, tuning,
                    sockets, progress);
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
    private final ActorRef<WalSender.Event> senderEvents;
    private final WalSender.Settings senderSettings;
    /** Told of each higher downstream flush LSN; null for nobody. */
    private final ActorRef<DownstreamFlushed> progress;

    private Lsn commitLsn;
    /** The current connection, until it stopped; null while backing off. */
    private ActorRef<OutboundConnection.Command> connection;
    private int generation;
    /** The roles switched on {@link #connection}. */
    private boolean connected;
    /** The connection's socket writer while pushing. */
    private ActorRef<SocketWriter.Command> writer;
    /** Where the WAL sent goes from; null until the downstream's start is known (or WAL exists to start from). */
    private Lsn position;
    /** The end of the WAL the socket took. */
    private Lsn sent;
    /** The send loop of the current connection, once its start is known; null otherwise. */
    private ActorRef<WalSender.Command> sender;
    private Lsn downstreamFlush = Lsn.INVALID;
    private long lastHeardNanos;
    private int attempt;
    private int reconnects;
    private String lastError;
    private ActorRef<Drained> drainReplyTo;
    /** The drain found the downstream caught up and told the connection to finish. */
    private boolean drainFinishing;

    private PushReplicator(ActorContext<Command> context, TimerScheduler<Command> timers, Downstream downstream,
                           Source source, Lsn initialCommitLsn, Tuning tuning,
                           Function<InetSocketAddress, SocketFactory> sockets, ActorRef<DownstreamFlushed> progress) {
        this.context = context;
        this.progress = progress;
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
        this.senderEvents = context.messageAdapter(WalSender.Event.class, FromSender::new);
        this.senderSettings = new WalSender.Settings(WalReader.MAX_SEND_SIZE, tuning.maxBytesInFlight(),
                tuning.keepaliveInterval());
    }

    // ---- states -----------------------------------------------------------------------------------

    /** Spawns the next connection; the previous one has stopped. */
    private Behavior<Command> connect() {
        connected = false;
        position = null;
        sent = null;
        writer = null;
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
                        writer = pushing.writer();
                        return onPushing(pushing.startLsn());
                    }
                    noteEnd(f.event());
                    return Behaviors.same();
                })
                .onMessageEquals(Tick.INSTANCE, Behaviors::same)
                .onMessage(FromSender.class, f -> Behaviors.same())
                .onMessage(Drain.class, d -> {
                    drainReplyTo = d.replyTo();
                    context.stop(connection);
                    return stopping();
                })
                .build();
    }

    private Behavior<Command> onPushing(Lsn start) {
        connected = true;
        lastHeardNanos = System.nanoTime();
        if (start.isValid()) {
            noteDownstreamFlush(start);
            position = start;
        }
        context.getLog().info("{} → {}: pushing from {} (downstream start {}, commit {})", source.timeline(),
                downstream, position, start, commitLsn);
        try {
            decidePosition();
        } catch (IOException e) {
            return abandonConnection(e.getMessage());
        }
        startSender();
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
                .onMessage(FromSender.class, f -> f.event().sender().equals(sender)
                        ? onSenderEvent(f.event()) : Behaviors.same())
                .onMessageEquals(Tick.INSTANCE, this::onTick)
                .onMessage(Drain.class, d -> {
                    drainReplyTo = d.replyTo();
                    timers.startSingleTimer(DrainTimedOut.INSTANCE, tuning.drainTimeout());
                    return maybeFinishDrain();
                })
                .onMessageEquals(DrainTimedOut.INSTANCE, () -> {
                    lastError = "drain timed out with the downstream at " + downstreamFlush + " of " + commitLsn;
                    stopSender();
                    context.stop(connection);
                    return stopping();
                })
                .build();
    }

    private Behavior<Command> onSenderEvent(WalSender.Event event) {
        if (event instanceof WalSender.Progress progress) {
            sent = progress.lsn();
            return Behaviors.same();
        }
        WalSender.Failed failed = (WalSender.Failed) event;
        return abandonConnection("cannot read WAL at " + failed.at() + ": " + failed.cause().getMessage());
    }

    private Behavior<Command> onPushingEvent(OutboundConnection.Event event) {
        if (event instanceof OutboundConnection.Received received) {
            lastHeardNanos = System.nanoTime();
            if (received.message() instanceof ReceiverMessage.StandbyStatusUpdate status) {
                attempt = 0; // a downstream that reports is healthy
                noteDownstreamFlush(status.flushLsn());
                if (status.replyRequested() && sender != null) {
                    sender.tell(new WalSender.SendKeepalive(false));
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
        if (System.nanoTime() - lastHeardNanos > tuning.replyTimeout().toNanos()) {
            return abandonConnection("the downstream sent nothing for " + tuning.replyTimeout());
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
                .onMessage(FromSender.class, f -> Behaviors.same())
                .onMessage(Drain.class, d -> {
                    d.replyTo().tell(new Drained(caughtUp(), downstreamFlush));
                    return Behaviors.stopped();
                })
                .build();
    }

    /** Draining: the connection is ending (or being stopped); stop once it has. */
    private Behavior<Command> stopping() {
        return Behaviors.receive(Command.class)
                .onMessage(SenderStopped.class, s -> {
                    if (drainFinishing && s.sender().equals(sender)) {
                        // Its last frames are queued at the writer: the CopyDone goes behind them.
                        sender = null;
                        connection.tell(OutboundConnection.Finish.INSTANCE);
                    }
                    return Behaviors.same();
                })
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
                            && received.message() instanceof ReceiverMessage.StandbyStatusUpdate status) {
                        noteDownstreamFlush(status.flushLsn());
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
                .build();
    }

    /** What every state handles alike. */
    private BehaviorBuilder<Command> common() {
        return Behaviors.receive(Command.class)
                .onMessage(CommitAdvanced.class, c -> {
                    if (c.commitLsn().compareTo(commitLsn) > 0) {
                        commitLsn = c.commitLsn();
                        if (sender != null) {
                            sender.tell(new WalSender.Serve(commitLsn));
                        } else if (connected) {
                            startSender();
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
                    stopSender();
                    if (drainReplyTo != null) {
                        drainReplyTo.tell(new Drained(caughtUp(), downstreamFlush));
                        return Behaviors.stopped();
                    }
                    return backingOff();
                })
                .onMessage(SenderStopped.class, s -> Behaviors.same());
    }

    // ---- sending ----------------------------------------------------------------------------------

    /** Starts the send loop once where to start is known (once WAL exists here, if the downstream has none). */
    private void startSender() {
        if (!connected || sender != null) {
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
        sent = position;
        // Same dispatcher as this actor: one for blocking work, where its file reads belong.
        sender = context.spawn(WalSender.create(writer, source.walDir(), source.walSegSize(), position, commitLsn,
                senderSettings, senderEvents), "sender-" + generation);
        context.watchWith(sender, new SenderStopped(sender));
    }

    private void stopSender() {
        if (sender != null) {
            context.stop(sender);
            sender = null;
        }
    }

    /**
     * With the downstream's start unknown (it holds nothing), start at the oldest WAL held here,
     * a segment start; check the start is still held.
     */
    private void decidePosition() throws IOException {
        Lsn oldest;
        try (WalReader wal = new WalReader(source.walDir(), source.walSegSize())) {
            oldest = wal.oldestAvailable();
        }
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

    /** While draining: once everything committed is sent and flushed downstream, end the stream. */
    private Behavior<Command> maybeFinishDrain() {
        if (drainReplyTo == null || drainFinishing || !caughtUp()) {
            return Behaviors.same();
        }
        drainFinishing = true;
        if (sender == null) {
            connection.tell(OutboundConnection.Finish.INSTANCE);
        } else {
            // No frame after the CopyDone: the sender stops first (SenderStopped sends Finish).
            sender.tell(new WalSender.Finish(List.of()));
        }
        return stopping();
    }

    /** A durable LSN the downstream reported: kept if higher, and told to the progress listener. */
    private void noteDownstreamFlush(Lsn flushLsn) {
        if (flushLsn.compareTo(downstreamFlush) > 0) {
            downstreamFlush = flushLsn;
            if (progress != null) {
                progress.tell(new DownstreamFlushed(downstream.address(), flushLsn));
            }
        }
    }

    private boolean caughtUp() {
        return downstreamFlush.compareTo(commitLsn) >= 0;
    }

    /** Ends the current connection (it is stopped; {@link ConnectionStopped} leads to a backoff). */
    private Behavior<Command> abandonConnection(String reason) {
        lastError = reason;
        context.getLog().warn("{} → {}: closing the push connection: {}", source.timeline(), downstream, reason);
        connected = false;
        stopSender();
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
        return new Status(downstream.address(), connected, commitLsn, sent == null ? Lsn.INVALID : sent,
                downstreamFlush, lag, reconnects, lastError);
    }
}
