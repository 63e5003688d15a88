package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.recovery.TimelineCopy;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.RuntimeDownstreams;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.replication.WalSender;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One client connection: an actor that owns the socket's two halves (children from the
 * {@link SocketFactory}: the reader delivers decoded messages and waits for
 * {@link SocketReader.Consumed}; the writer sends what it is told), its states and its drain.
 * The states, one method each:
 *
 * <pre>
 * startup ──► authenticated ◄──► replicating      (CopyDone returns to the query loop)
 *                   │       ◄──► pushReceiving
 *                   └──────────► walPushing
 * any state ──► draining ──► stopped
 * </pre>
 *
 * What each state says on the wire is its role's: {@link ServerAuthenticator},
 * {@link QueryLoop}, {@link WalPushRole}, {@link PullReplicationRole}, {@link PushReceiverRole},
 * sharing a {@link ConnectionContext}. Any message a state does not expect, malformed input, or
 * failed authentication ends in an ErrorResponse with its SQLSTATE, then the connection drains:
 * the writer flushes and closes, and the actor stops when the socket is gone.
 *
 * <p>The limits ({@link ConnectionSettings.Limits}) are timers here (startup timeout, auth-failure
 * delay, WAL push idle check) and questions to the {@link Listener}, which counts connections.
 */
public final class Connection {

    public sealed interface Command {}

    private record FromReader(SocketReader.Event event) implements Command {}

    private enum StartupTimedOut implements Command { INSTANCE }

    private enum DrainTimedOut implements Command { INSTANCE }

    private record UserAdmitted(ServerAuthenticator.Authenticated login, Listener.UserAdmission admission,
                                Throwable failure) implements Command {}

    private record AuthFailureDelayed(ServerAuthenticator.Failed failed) implements Command {}

    private enum WalPushIdleCheck implements Command { INSTANCE }

    /** Answers to the questions a role asked another actor; a state that asked none ignores them. */
    sealed interface Async extends Command {}

    record FromTimeline(Timeline.ProposerReply reply) implements Async {}

    record TimelineResolved(ActorRef<Timeline.Command> timeline, Throwable failure) implements Async {}

    record StatusReceived(ActorRef<Timeline.Command> timeline, Timeline.Status status, Throwable failure)
            implements Async {}

    record TimelineStopped() implements Async {}

    record ConsumersReceived(Timeline.Consumers consumers, Throwable failure) implements Async {}

    record PusherStatusReceived(PushReplicator.Status status, Throwable failure) implements Async {}

    record ClusterViewReceived(ClusterTimelines.View view, Throwable failure) implements Async {}

    record DownstreamsReceived(RuntimeDownstreams.Reply reply, Throwable failure) implements Async {}

    record SnapshotReceived(Timeline.SnapshotReply reply, Throwable failure) implements Async {}

    record CopyFinished(TimelineCopy.Result result) implements Async {}

    /** What drives a pull replication stream besides the client's messages. */
    sealed interface Streaming extends Command {}

    record PositionsChanged(Timeline.PositionsEvent positions) implements Streaming {}

    record FromSender(WalSender.Event event) implements Streaming {}

    /** A receiving connection's worker ended the stream. */
    record PushReceivingEnded(PushReceiverWorker.Ended ended) implements Command {}

    private static final Object STARTUP_TIMER = "startup";
    private static final Object WAL_PUSH_IDLE_TIMER = "wal-push-idle";
    private static final Runnable NO_ROLE = () -> { };

    public static Behavior<Command> create(ConnectionSettings settings, ActorRef<TimelineRegistry.Command> timelines,
                                           InetSocketAddress client, SocketFactory sockets) {
        return create(settings, timelines, null, client, sockets);
    }

    /**
     * @param pushReceivers where pushed WAL is stored when this node accepts START_PUSH_REPLICATION
     *     (a {@code walkeeper receive} node); null when it does not
     */
    public static Behavior<Command> create(ConnectionSettings settings, ActorRef<TimelineRegistry.Command> timelines,
                                           PushReceivers pushReceivers, InetSocketAddress client,
                                           SocketFactory sockets) {
        return create(settings, timelines, pushReceivers, null, client, sockets);
    }

    /**
     * @param admission what the {@link Listener} decided on accepting the socket (refused over
     *     max-connections), and whom to ask about the user's limit; null outside a listener
     */
    public static Behavior<Command> create(ConnectionSettings settings, ActorRef<TimelineRegistry.Command> timelines,
                                           PushReceivers pushReceivers, Listener.Admission admission,
                                           InetSocketAddress client, SocketFactory sockets) {
        return Behaviors.setup(actor -> Behaviors.withTimers(timers -> {
            ActorRef<SocketReader.Event> events = actor.messageAdapter(SocketReader.Event.class, FromReader::new);
            SocketFactory.Halves halves = sockets.attach(actor, events);
            timers.startSingleTimer(STARTUP_TIMER, StartupTimedOut.INSTANCE, settings.startupTimeout());
            ConnectionContext ctx = new ConnectionContext(actor, settings, timelines, pushReceivers, client,
                    halves.reader(), halves.writer());
            Connection connection = new Connection(ctx, timers, admission == null ? null : admission.listener());
            if (admission != null && admission.refusal() != null) {
                return connection.fatal(SqlState.TOO_MANY_CONNECTIONS, admission.refusal());
            }
            return connection.startup();
        }));
    }

    private final ConnectionContext ctx;
    private final TimerScheduler<Command> timers;
    private final ServerAuthenticator authenticator;
    private final QueryLoop queries;
    /** Asked whether an authenticated user is within its connection limit; null outside a listener. */
    private final ActorRef<Listener.Command> listener;
    /** Releases what the streaming role holds (a WAL reader, a push lease); run once when it ends. */
    private Runnable endRole = NO_ROLE;

    private Connection(ConnectionContext ctx, TimerScheduler<Command> timers, ActorRef<Listener.Command> listener) {
        this.ctx = ctx;
        this.timers = timers;
        this.listener = listener;
        this.authenticator = new ServerAuthenticator(ctx.settings(), ctx.client().getAddress(), new SecureRandom());
        this.queries = new QueryLoop(ctx);
    }

    // ---- startup: the startup packet and authentication ----------------------------------------

    private Behavior<Command> startup() {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), this::onStartupMessage))
                .onMessage(UserAdmitted.class, this::onUserAdmitted)
                .onMessage(AuthFailureDelayed.class, d -> {
                    ctx.releaseHeldReader();
                    return fatal(d.failed().sqlState(), d.failed().message());
                })
                .onMessageEquals(StartupTimedOut.INSTANCE, () -> {
                    ctx.releaseHeldReader();
                    return fatal(SqlState.QUERY_CANCELED, "canceling authentication due to timeout");
                })
                .build();
    }

    private Behavior<Command> onStartupMessage(Object message) {
        ServerAuthenticator.Step step = authenticator.onMessage(message);
        if (step instanceof ServerAuthenticator.Reply reply) {
            ctx.write(reply.message());
            return Behaviors.same();
        }
        if (step instanceof ServerAuthenticator.RefuseEncryption) {
            ctx.writeRaw(new byte[] {BackendCodec.SSL_REFUSED});
            return Behaviors.same();
        }
        if (step instanceof ServerAuthenticator.Cancel) {
            return drain();
        }
        if (step instanceof ServerAuthenticator.Failed failed) {
            return authenticationFailed(failed);
        }
        if (step instanceof ServerAuthenticator.Unexpected unexpected) {
            ctx.unexpected(message, unexpected.stateName());
            return drain();
        }
        ServerAuthenticator.Authenticated in = (ServerAuthenticator.Authenticated) step;
        if (listener == null) {
            return loggedIn(in);
        }
        // The listener counts the user's connections; nothing more is read until it answered.
        ctx.holdReader();
        ctx.actor().ask(Listener.UserAdmission.class, listener, ConnectionContext.ASK_TIMEOUT,
                replyTo -> new Listener.AdmitUser(in.session().user(), ctx.actor().getSelf(), replyTo),
                (admission, failure) -> new UserAdmitted(in, admission, failure));
        return Behaviors.same();
    }

    /**
     * A failed authentication (class 28: a wrong password, or no entry for the user) is answered
     * only after the auth-failure delay, to slow down password guessing; the reader stays held
     * meanwhile, so the client gets nothing more done on this connection.
     */
    private Behavior<Command> authenticationFailed(ServerAuthenticator.Failed failed) {
        Duration delay = ctx.settings().limits().authFailureDelay();
        if (delay.isZero() || !failed.sqlState().code().startsWith("28")) {
            return fatal(failed.sqlState(), failed.message());
        }
        ctx.holdReader();
        timers.startSingleTimer(new AuthFailureDelayed(failed), delay);
        return Behaviors.same();
    }

    private Behavior<Command> onUserAdmitted(UserAdmitted answer) {
        ctx.releaseHeldReader();
        if (answer.failure() != null) {
            return fatal(SqlState.INTERNAL_ERROR, "could not check the connection limit of user \""
                    + answer.login().session().user() + "\": " + answer.failure().getMessage());
        }
        if (!answer.admission().admitted()) {
            return fatal(SqlState.TOO_MANY_CONNECTIONS, answer.admission().refusal());
        }
        return loggedIn(answer.login());
    }

    private Behavior<Command> loggedIn(ServerAuthenticator.Authenticated in) {
        timers.cancel(STARTUP_TIMER);
        ctx.authenticated(in.session());
        in.replies().forEach(ctx::write);
        ctx.actor().getLog().debug("{}: user \"{}\" authenticated (replication={}, application_name={})",
                ctx.client(), in.session().user(), in.session().replication(), in.session().applicationName());
        return authenticated();
    }

    // ---- authenticated: the simple-query loop --------------------------------------------------

    private Behavior<Command> authenticated() {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), m -> afterQuery(queries.onMessage(m))))
                .onMessage(Async.class, a -> afterQuery(queries.onAnswer(a)))
                .build();
    }

    private Behavior<Command> afterQuery(QueryLoop.Outcome outcome) {
        if (outcome instanceof QueryLoop.StartWalPush push) {
            Duration idleTimeout = ctx.settings().limits().walPushIdleTimeout();
            if (!idleTimeout.isZero()) {
                // Checked a few times per timeout rather than re-armed per message, which would
                // cost a scheduler call for every AppendRequest.
                timers.startTimerWithFixedDelay(WAL_PUSH_IDLE_TIMER, WalPushIdleCheck.INSTANCE, idleTimeout.dividedBy(4));
            }
            return walPushing(WalPushRole.start(ctx, push.allowTimelineCreation()));
        }
        if (outcome instanceof QueryLoop.StartReplication start) {
            endRole = start.role()::close;
            return replicating(start.role());
        }
        if (outcome instanceof QueryLoop.StartPushReceiving start) {
            endRole = start.role()::close;
            return pushReceiving(start.role());
        }
        return outcome == QueryLoop.Close.INSTANCE ? drain() : Behaviors.same();
    }

    // ---- the streaming roles -------------------------------------------------------------------

    /** START_WAL_PUSH: proposer messages to the timeline, its replies to the writer. */
    private Behavior<Command> walPushing(WalPushRole role) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), m -> then(role.onMessage(m))))
                .onMessage(Async.class, a -> then(role.onAnswer(a)))
                .onMessageEquals(WalPushIdleCheck.INSTANCE, () -> {
                    Duration idleTimeout = ctx.settings().limits().walPushIdleTimeout();
                    if (!role.silentFor(idleTimeout)) {
                        return Behaviors.same();
                    }
                    return fatal(SqlState.IDLE_SESSION_TIMEOUT, "terminating WAL push: the proposer sent nothing for "
                            + idleTimeout.toMillis() + " ms (wal-push-idle-timeout)");
                })
                .build();
    }

    /** START_REPLICATION: WAL to the client, standby replies from it. */
    private Behavior<Command> replicating(PullReplicationRole role) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), m -> then(role.onMessage(m))))
                .onMessage(Streaming.class, s -> then(role.onEvent(s)))
                .onSignal(PostStop.class, stop -> stopped())
                .build();
    }

    /** START_PUSH_REPLICATION received: pushed WAL to disk, flush positions back. */
    private Behavior<Command> pushReceiving(PushReceiverRole role) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), m -> then(role.onMessage(m))))
                .onMessage(PushReceivingEnded.class, e -> {
                    Behavior<Command> next = then(role.onEnded(e.ended()));
                    ctx.releaseReader(); // the worker held it with the stream's last message
                    return next;
                })
                .onSignal(PostStop.class, stop -> stopped())
                .build();
    }

    private Behavior<Command> then(Next next) {
        return switch (next) {
            case STAY -> Behaviors.same();
            case QUERIES -> {
                releaseRole();
                timers.cancel(WAL_PUSH_IDLE_TIMER);
                ctx.switchDecoder(FrontendCodec::decode, 1);
                yield authenticated();
            }
            case DRAIN -> drain();
        };
    }

    private void releaseRole() {
        Runnable release = endRole;
        endRole = NO_ROLE;
        release.run();
    }

    /** The socket went away while a role streamed. */
    private Behavior<Command> stopped() {
        releaseRole();
        return Behaviors.same();
    }

    // ---- every state ---------------------------------------------------------------------------

    /**
     * Hands a received message to the state's handler and then lets the reader decode the next
     * one, unless the handler holds it; reader failures and closes mean the same in every state.
     */
    private Behavior<Command> onReaderEvent(SocketReader.Event event, Function<Object, Behavior<Command>> handler) {
        if (event instanceof SocketReader.Received received) {
            ctx.messageArrived();
            Behavior<Command> next;
            try {
                next = handler.apply(received.message());
            } catch (ProtocolException e) {
                // A field inside a well-framed message was malformed (e.g. a SCRAM message).
                next = fatal(e.sqlState(), e.getMessage());
            }
            if (!ctx.readerHeld()) {
                ctx.releaseReader();
            }
            return next;
        }
        if (event instanceof SocketReader.ReadFailed failed) {
            return fatal(failed.cause().sqlState(), failed.cause().getMessage());
        }
        ctx.actor().getLog().debug("{}: {}", ctx.client(), ((SocketReader.PeerClosed) event).reason());
        return Behaviors.stopped();
    }

    private Behavior<Command> fatal(SqlState state, String message) {
        ctx.fatal(state, message);
        return drain();
    }

    // ---- draining ------------------------------------------------------------------------------

    /** The connection is ending: flush what was written, close, and stop when the socket is gone. */
    private Behavior<Command> drain() {
        releaseRole();
        ctx.closeWriter();
        timers.cancelAll();
        timers.startSingleTimer(DrainTimedOut.INSTANCE, ctx.settings().drainTimeout());
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> {
                    if (f.event() instanceof SocketReader.PeerClosed) {
                        return Behaviors.stopped();
                    }
                    if (f.event() instanceof SocketReader.Received) {
                        ctx.releaseReader();
                    }
                    return Behaviors.same();
                })
                .onMessageEquals(DrainTimedOut.INSTANCE, Behaviors::stopped)
                .build();
    }
}
