package dev.walkeeper.actors.client;

import dev.walkeeper.actors.socket.OutgoingTcpSocketFactory;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.protocol.pg.BackendMessage.BackendKeyData;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.NoticeResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Objects;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * What every actor playing the client (frontend) role of the PostgreSQL protocol over one outgoing
 * connection shares; a subclass is one role (the push replication client, the bridge's primary
 * client, its node connection).
 *
 * <p>This class owns the {@link SocketReader}/{@link SocketWriter} children and the states up to
 * the server's first ReadyForQuery: {@link #start} (StartupMessage sent) → {@link #authenticating}
 * (a {@link ClientAuthenticator}: trust, cleartext, md5, SCRAM-SHA-256) → {@link #awaitingReady};
 * then {@link #ready()} hands over to the role's own states. One timeout covers connect, these
 * states and the role's handshake up to {@link #handshakeDone()}. The orderly end is
 * {@link #terminate()} or {@link #close()} → {@link #closing()} → {@link #reportClosed()}; any
 * failure is {@link #fail}: {@link #reportFailed} and the actor stops.
 *
 * <p>The role builds every state's behaviour ({@link #state}), since each also takes its parent's
 * commands. Its command type has one private record that carries this class's {@link Signal}s
 * (reader events, writer acks, timeouts) and implements {@link Envelope}; each state hands it to
 * {@link #onSignal}, which gives the server's messages to the state's {@link MessageHandler}.
 *
 * @param <C> the role's command type
 */
public abstract class ClientConnection<C> {

    /** What this class tells itself; the role carries it in its command type. */
    public sealed interface Signal {}

    /** The role's command that carries a {@link Signal}. */
    public interface Envelope {
        Signal signal();
    }

    /** One state's handling of the server's messages. */
    @FunctionalInterface
    public interface MessageHandler<C> {
        Behavior<C> handle(Object message);
    }

    /**
     * @param name how the logs name the connection (its timeline, its application name)
     * @param peer how reasons name the server ("downstream", "primary", "node")
     * @param handshake the command the role's handshake ends with, for the timeout's reason
     * @param handshakeTimeout connect, authentication and the role's handshake together
     * @param closeTimeout how long flushing the last messages may take before the actor stops anyway
     */
    public record Profile(String name, String peer, String handshake, Duration handshakeTimeout,
                          Duration closeTimeout) {
        public Profile {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(peer, "peer");
            Objects.requireNonNull(handshake, "handshake");
        }
    }

    private record FromReader(SocketReader.Event event) implements Signal {}

    private record FromWriter(long token) implements Signal {}

    /** Also the keys of the two timers. */
    private enum Lifecycle implements Signal { HANDSHAKE_TIMED_OUT, CLOSE_TIMED_OUT, WRITER_STOPPED }

    protected final ActorContext<C> context;
    protected final TimerScheduler<C> timers;
    private final Function<Signal, C> wrap;
    private final Profile profile;
    private final ActorRef<SocketReader.Command> reader;
    private final ActorRef<SocketWriter.Command> writer;
    private final ActorRef<SocketWriter.Written> written;
    /** Set by a handler that keeps the message it handles unconsumed. */
    private boolean keepUnconsumed;

    /** Sockets to a server at {@code address}: frames as a client reads them, decoded as backend messages. */
    public static SocketFactory sockets(InetSocketAddress address, Duration connectTimeout) {
        return new OutgoingTcpSocketFactory(address, connectTimeout,
                () -> FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), BackendCodec::decode);
    }

    /**
     * @param wrap the constructor of the role's {@link Envelope} command
     * @param sockets gives the socket halves: {@link #sockets}, or probes in tests
     */
    protected ClientConnection(ActorContext<C> context, TimerScheduler<C> timers, Function<Signal, C> wrap,
                               SocketFactory sockets, Profile profile) {
        this.context = context;
        this.timers = timers;
        this.wrap = wrap;
        this.profile = profile;
        SocketFactory.Halves halves = sockets.attach(context,
                context.messageAdapter(SocketReader.Event.class, event -> wrap.apply(new FromReader(event))));
        this.reader = halves.reader();
        this.writer = halves.writer();
        this.written = context.messageAdapter(SocketWriter.Written.class,
                w -> wrap.apply(new FromWriter(w.token())));
    }

    // ---- what the role provides -------------------------------------------------------------------

    /**
     * A state of the role: the server's messages go to {@code handler} (through {@link #onSignal}),
     * the parent's commands are handled as the role does at this point.
     */
    protected abstract Behavior<C> state(MessageHandler<C> handler);

    /** The server accepted us and is ready for a query: the role's own states begin. */
    protected abstract Behavior<C> ready();

    /** Tells the parent that the connection failed; the actor stops. */
    protected abstract void reportFailed(String reason, String sqlState);

    /** Tells the parent that the connection was closed on purpose; the actor stops. */
    protected abstract void reportClosed();

    /** Tells the parent that the socket took everything sent before {@link #notifyWhenWritten}. */
    protected void reportWritten(long token) {
        throw new UnsupportedOperationException("this role does not ask for written notifications");
    }

    // ---- startup and authentication ---------------------------------------------------------------

    /** Sends the StartupMessage (queued until the socket connects) and starts the handshake timeout. */
    protected final Behavior<C> start(StartupMessage startup, String user, String password) {
        timers.startSingleTimer(Lifecycle.HANDSHAKE_TIMED_OUT, wrap.apply(Lifecycle.HANDSHAKE_TIMED_OUT),
                profile.handshakeTimeout());
        send(startup);
        return authenticating(new ClientAuthenticator(user, password, profile.peer()));
    }

    /** The server's authentication requests are answered by {@code auth} until it accepts us. */
    private Behavior<C> authenticating(ClientAuthenticator auth) {
        return state(message -> {
            ClientAuthenticator.Step step = auth.onMessage(message);
            if (step instanceof ClientAuthenticator.Reply reply) {
                send(reply.message());
                return Behaviors.same();
            }
            if (step == ClientAuthenticator.Wait.INSTANCE) {
                return Behaviors.same();
            }
            if (step == ClientAuthenticator.Authenticated.INSTANCE) {
                return awaitingReady();
            }
            if (step instanceof ClientAuthenticator.Failed failed) {
                return fail(failed.reason(), null);
            }
            return unexpected(message, "authentication");
        });
    }

    /** AuthenticationOk is in; the server's parameters and key come before its ReadyForQuery. */
    private Behavior<C> awaitingReady() {
        return state(message -> {
            if (message instanceof BackendKeyData) {
                return Behaviors.same();
            }
            if (message instanceof ReadyForQuery) {
                return ready();
            }
            return unexpected(message, "ready");
        });
    }

    /** The role's handshake is complete: the handshake timeout no longer applies. */
    protected final void handshakeDone() {
        timers.cancel(Lifecycle.HANDSHAKE_TIMED_OUT);
    }

    // ---- every state ------------------------------------------------------------------------------

    /**
     * What a state does with a {@link Signal}. The server's messages go to {@code handler}, except
     * NoticeResponse (logged) and ParameterStatus (a server may report a changed setting at any
     * time); each is consumed afterwards unless the handler called {@link #keepUnconsumed()}.
     */
    protected final Behavior<C> onSignal(Signal signal, MessageHandler<C> handler) {
        if (signal instanceof FromReader fromReader) {
            return onReaderEvent(fromReader.event(), handler);
        }
        if (signal instanceof FromWriter fromWriter) {
            reportWritten(fromWriter.token());
            return Behaviors.same();
        }
        if (signal == Lifecycle.HANDSHAKE_TIMED_OUT) {
            return fail("no " + profile.handshake() + " handshake within " + profile.handshakeTimeout(), null);
        }
        return Behaviors.same(); // the other lifecycle signals only come while closing
    }

    private Behavior<C> onReaderEvent(SocketReader.Event event, MessageHandler<C> handler) {
        if (event instanceof SocketReader.Received received) {
            Object message = received.message();
            keepUnconsumed = false;
            Behavior<C> next;
            if (message instanceof NoticeResponse notice) {
                context.getLog().info("{}: {} notice: {}", profile.name(), profile.peer(), notice.message());
                next = Behaviors.same();
            } else if (message instanceof ParameterStatus) {
                next = Behaviors.same();
            } else {
                next = handler.handle(message);
            }
            if (!keepUnconsumed) {
                reader.tell(SocketReader.Consumed.INSTANCE);
            }
            return next;
        }
        if (event instanceof SocketReader.ReadFailed failed) {
            return fail("invalid message from the " + profile.peer() + ": " + failed.cause().getMessage(), null);
        }
        return fail(((SocketReader.PeerClosed) event).reason(), null);
    }

    // ---- closing ----------------------------------------------------------------------------------

    /** Says goodbye with Terminate, then {@link #close()}. */
    protected final Behavior<C> terminate() {
        send(new Terminate());
        return close();
    }

    /** Flushes what is queued and closes the socket; the actor stops once the writer has. */
    protected final Behavior<C> close() {
        timers.cancelAll();
        timers.startSingleTimer(Lifecycle.CLOSE_TIMED_OUT, wrap.apply(Lifecycle.CLOSE_TIMED_OUT),
                profile.closeTimeout());
        context.watchWith(writer, wrap.apply(Lifecycle.WRITER_STOPPED));
        writer.tell(new SocketWriter.Close());
        return closing();
    }

    /** Only the socket's end (or the close timeout) counts now; the parent's commands come too late. */
    private Behavior<C> closing() {
        return Behaviors.receiveMessage(command -> {
            Signal signal = command instanceof Envelope envelope ? envelope.signal() : null;
            if (signal instanceof FromReader fromReader) {
                if (fromReader.event() instanceof SocketReader.Received) {
                    reader.tell(SocketReader.Consumed.INSTANCE);
                    return Behaviors.same();
                }
                return closed();
            }
            if (signal == Lifecycle.WRITER_STOPPED || signal == Lifecycle.CLOSE_TIMED_OUT) {
                return closed();
            }
            return Behaviors.same();
        });
    }

    private Behavior<C> closed() {
        reportClosed();
        return Behaviors.stopped();
    }

    // ---- helpers for the role ---------------------------------------------------------------------

    protected final void send(FrontendMessage message) {
        writer.tell(new SocketWriter.WriteRaw(FrontendCodec.encode(message)));
    }

    /**
     * Sends bytes that already are complete frontend messages, encoded once by the caller and
     * possibly shared with other connections (the bridge's AppendRequest frames): never modified.
     */
    protected final void sendEncoded(byte[] frames) {
        writer.tell(new SocketWriter.WriteRaw(frames));
    }

    /**
     * The socket's writer, for a role that lets its parent write complete messages on the
     * connection without passing through this actor (the bridge's standby status updates).
     */
    protected final ActorRef<SocketWriter.Command> socketWriter() {
        return writer;
    }

    /** {@link #reportWritten} with {@code token} follows once the socket took everything sent so far. */
    protected final void notifyWhenWritten(long token) {
        writer.tell(new SocketWriter.NotifyWhenWritten(token, written));
    }

    /** The decoder and window for the frames after the message being handled. */
    protected final void switchDecoder(SocketReader.Decoder decoder, int window) {
        reader.tell(new SocketReader.SwitchDecoder(decoder, window));
    }

    /**
     * Keeps the message being handled unconsumed until {@link #consumed()}: the reader delivers no
     * more than its window of such messages and then stops reading the socket.
     */
    protected final void keepUnconsumed() {
        keepUnconsumed = true;
    }

    /** The role is done with a message it kept unconsumed. */
    protected final void consumed() {
        reader.tell(SocketReader.Consumed.INSTANCE);
    }

    /**
     * Fails the connection over a message this state does not expect. An ErrorResponse is the
     * server's refusal: the reason is its message, with its SQLSTATE.
     */
    protected final Behavior<C> unexpected(Object message, String stateName) {
        if (message instanceof ErrorResponse error) {
            return fail(profile.peer() + " error: " + error.message(), error.code());
        }
        return fail("unexpected message " + message.getClass().getSimpleName() + " from the " + profile.peer()
                + " in the " + stateName + " state", null);
    }

    /**
     * Reports the failure and stops; the reader stops with the actor, which closes the socket (the
     * two sides are coupled).
     *
     * @param sqlState the server's SQLSTATE when it sent an ErrorResponse, else null
     */
    protected final Behavior<C> fail(String reason, String sqlState) {
        context.getLog().info("{}: connection to the {} ends: {}{}", profile.name(), profile.peer(), reason,
                sqlState == null ? "" : " (" + sqlState + ")");
        reportFailed(reason, sqlState);
        return Behaviors.stopped();
    }
}
