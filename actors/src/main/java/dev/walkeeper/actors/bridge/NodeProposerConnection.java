package dev.walkeeper.actors.bridge;

import dev.walkeeper.actors.replication.ClientAuthenticator;
import dev.walkeeper.actors.socket.OutgoingTcpSocketFactory;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.BackendKeyData;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.NoticeResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.safekeeper.AcceptorCodec;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerCodec;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The bridge's proposer connection to one walkeeper node: it connects as Neon's walproposer does
 * ({@code database=replication}, tenant and timeline in {@code options}, no {@code replication}
 * parameter), authenticates with a {@link ClientAuthenticator}, sends
 * {@code START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')} and, once in CopyBoth,
 * carries proposer messages to the node and acceptor messages back. The consensus logic stays in
 * the parent (a {@code Proposer} per timeline); this actor only moves messages.
 *
 * <p>States: {@link #start()} → {@link #authenticating} → {@link #awaitingReady()} →
 * {@link #startingPush()} → {@link #pushing()} → {@link #close()}. The parent gets {@link Ready}
 * once in CopyBoth, every acceptor message as {@link FromNode}, and {@link Written} for each
 * {@link Send} with a token once the socket took it (so it can bound what is queued and ack WAL to
 * the primary only after the node's socket has it). A {@link Send} before {@link Ready} is kept
 * and sent once the node is in CopyBoth.
 *
 * <p>Any failure — ErrorResponse, protocol violation, lost connection, handshake not done within
 * {@link Settings#handshakeTimeout} — is {@link Failed} and the actor stops; the parent reconnects
 * with a new one. {@link Stop} sends Terminate, closes the socket and ends with {@link Closed}.
 */
public final class NodeProposerConnection {

    public sealed interface Command {}

    /** A Send without a token: no {@link Written} follows. */
    public static final long NO_TOKEN = -1;

    /** Send {@code message} inside CopyData; unless {@code token} is {@link #NO_TOKEN}, {@link Written} follows. */
    public record Send(ProposerMessage message, long token) implements Command {
        public Send {
            Objects.requireNonNull(message, "message");
        }

        public Send(ProposerMessage message) {
            this(message, NO_TOKEN);
        }
    }

    /** Leave: Terminate, close the socket, {@link Closed}. */
    public enum Stop implements Command { INSTANCE }

    private record FromReader(SocketReader.Event event) implements Command {}

    private record FromWriter(SocketWriter.Written written) implements Command {}

    private enum HandshakeTimedOut implements Command { INSTANCE }

    private enum CloseTimedOut implements Command { INSTANCE }

    private enum WriterStopped implements Command { INSTANCE }

    /** What the connection tells its parent; each event names the connection it comes from. */
    public sealed interface Event {
        ActorRef<Command> connection();
    }

    /** The node accepted START_WAL_PUSH: proposer messages flow from now on. */
    public record Ready(ActorRef<Command> connection) implements Event {}

    /** An acceptor message of the node. */
    public record FromNode(ActorRef<Command> connection, AcceptorMessage message) implements Event {}

    /** The socket took the {@link Send} with this token (and everything sent before it). */
    public record Written(ActorRef<Command> connection, long token) implements Event {}

    /**
     * The connection failed and the actor stopped.
     *
     * @param sqlState the node's SQLSTATE when it sent an ErrorResponse, else null
     */
    public record Failed(ActorRef<Command> connection, String reason, String sqlState) implements Event {}

    /** The connection was closed after {@link Stop} and the actor stopped. */
    public record Closed(ActorRef<Command> connection) implements Event {}

    /**
     * @param password null when the node trusts the user
     * @param handshakeTimeout connect to CopyBothResponse
     * @param closeTimeout how long flushing the Terminate may take before the actor stops anyway
     */
    public record Settings(String user, String password, TenantTimelineId timeline, Duration handshakeTimeout,
                           Duration closeTimeout) {
        public Settings {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(timeline, "timeline");
        }

        /** 10 s to start, 2 s to close. */
        public static Settings defaults(String user, String password, TenantTimelineId timeline) {
            return new Settings(user, password, timeline, Duration.ofSeconds(10), Duration.ofSeconds(2));
        }
    }

    /** The command a walproposer (protocol version 3) starts the push with. */
    public static final String START_WAL_PUSH = "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')";

    /** Acceptor messages the reader may decode ahead of us inside CopyBoth. */
    private static final int PUSH_WINDOW = 16;

    /** Sockets to a node at {@code address}. */
    public static SocketFactory sockets(InetSocketAddress address, Duration connectTimeout) {
        return new OutgoingTcpSocketFactory(address, connectTimeout,
                () -> FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), BackendCodec::decode);
    }

    /** The StartupMessage of a walproposer: no {@code replication} parameter, the timeline in {@code options}. */
    public static StartupMessage startupMessage(Settings settings) {
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("user", settings.user());
        parameters.put("database", "replication");
        parameters.put("options", "-c timeline_id=" + settings.timeline().timelineId() + " tenant_id="
                + settings.timeline().tenantId());
        return new StartupMessage(FrontendMessage.PROTOCOL_3_0, parameters);
    }

    /** Inside CopyBoth, CopyData carries acceptor messages; other frames stay backend messages. */
    static Object decodeCopyBothFrame(Frame frame) {
        BackendMessage message = BackendCodec.decode(frame);
        return message instanceof CopyData data ? AcceptorCodec.decode(data.data()) : message;
    }

    public static Behavior<Command> create(Settings settings, ActorRef<Event> parent, SocketFactory sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            ActorRef<SocketReader.Event> events = ctx.messageAdapter(SocketReader.Event.class, FromReader::new);
            SocketFactory.Halves halves = sockets.attach(ctx, events);
            timers.startSingleTimer(HandshakeTimedOut.INSTANCE, settings.handshakeTimeout());
            return new NodeProposerConnection(ctx, timers, settings, parent, halves).start();
        }));
    }

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final Settings settings;
    private final ActorRef<Event> parent;
    private final ActorRef<SocketReader.Command> reader;
    private final ActorRef<SocketWriter.Command> writer;
    private final ActorRef<SocketWriter.Written> written;
    /** Sends that arrived before CopyBoth; null once pushing. */
    private List<Send> early = new ArrayList<>();

    private NodeProposerConnection(ActorContext<Command> context, TimerScheduler<Command> timers, Settings settings,
                                   ActorRef<Event> parent, SocketFactory.Halves halves) {
        this.context = context;
        this.timers = timers;
        this.settings = settings;
        this.parent = parent;
        this.reader = halves.reader();
        this.writer = halves.writer();
        this.written = context.messageAdapter(SocketWriter.Written.class, FromWriter::new);
    }

    private interface MessageHandler {
        Behavior<Command> handle(Object message);
    }

    /** A state: the node's messages go to {@code handler}; the parent's commands are handled alike in all. */
    private Behavior<Command> state(MessageHandler handler) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), handler))
                .onMessage(FromWriter.class, f -> {
                    parent.tell(new Written(context.getSelf(), f.written().token()));
                    return Behaviors.same();
                })
                .onMessageEquals(HandshakeTimedOut.INSTANCE, () -> fail(
                        "no START_WAL_PUSH handshake within " + settings.handshakeTimeout(), null))
                .onMessage(Send.class, s -> {
                    if (early != null) {
                        early.add(s);
                    } else {
                        sendToNode(s);
                    }
                    return Behaviors.same();
                })
                .onMessageEquals(Stop.INSTANCE, () -> {
                    send(new Terminate());
                    return close();
                })
                .build();
    }

    private Behavior<Command> onReaderEvent(SocketReader.Event event, MessageHandler handler) {
        if (event instanceof SocketReader.Received received) {
            Object message = received.message();
            Behavior<Command> next;
            if (message instanceof ErrorResponse error) {
                next = fail("node error: " + error.message(), error.code());
            } else if (message instanceof NoticeResponse notice) {
                context.getLog().info("{}: node notice: {}", settings.timeline(), notice.message());
                next = Behaviors.same();
            } else if (message instanceof ParameterStatus) {
                next = Behaviors.same(); // a server may report a changed setting at any time
            } else {
                next = handler.handle(message);
            }
            reader.tell(SocketReader.Consumed.INSTANCE);
            return next;
        }
        if (event instanceof SocketReader.ReadFailed failed) {
            return fail("invalid message from the node: " + failed.cause().getMessage(), null);
        }
        return fail(((SocketReader.PeerClosed) event).reason(), null);
    }

    // ---- startup, authentication, START_WAL_PUSH --------------------------------------------------

    private Behavior<Command> start() {
        send(startupMessage(settings));
        return authenticating(new ClientAuthenticator(settings.user(), settings.password(), "node"));
    }

    private Behavior<Command> authenticating(ClientAuthenticator auth) {
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

    private Behavior<Command> awaitingReady() {
        return state(message -> {
            if (message instanceof BackendKeyData) {
                return Behaviors.same();
            }
            if (message instanceof ReadyForQuery) {
                send(new Query(START_WAL_PUSH));
                return startingPush();
            }
            return unexpected(message, "ready");
        });
    }

    /** The query is out; the reader's window is still 1, so the decoder switch applies from the next frame. */
    private Behavior<Command> startingPush() {
        return state(message -> {
            if (message instanceof CopyBothResponse) {
                timers.cancel(HandshakeTimedOut.INSTANCE);
                reader.tell(new SocketReader.SwitchDecoder(NodeProposerConnection::decodeCopyBothFrame,
                        PUSH_WINDOW));
                parent.tell(new Ready(context.getSelf()));
                List<Send> queued = early;
                early = null;
                queued.forEach(this::sendToNode);
                return pushing();
            }
            return unexpected(message, "START_WAL_PUSH");
        });
    }

    // ---- pushing ----------------------------------------------------------------------------------

    private Behavior<Command> pushing() {
        return state(message -> {
            if (message instanceof AcceptorMessage acceptorMessage) {
                parent.tell(new FromNode(context.getSelf(), acceptorMessage));
                return Behaviors.same();
            }
            if (message instanceof CopyDone) {
                return fail("the node ended the stream", null);
            }
            return unexpected(message, "pushing");
        });
    }

    private void sendToNode(Send s) {
        send(new CopyData(ProposerCodec.encode(s.message())));
        if (s.token() != NO_TOKEN) {
            writer.tell(new SocketWriter.NotifyWhenWritten(s.token(), written));
        }
    }

    // ---- closing ----------------------------------------------------------------------------------

    /** Flush what is queued, close the socket, stop once the writer has (or the close timeout passed). */
    private Behavior<Command> close() {
        timers.cancelAll();
        timers.startSingleTimer(CloseTimedOut.INSTANCE, settings.closeTimeout());
        context.watchWith(writer, WriterStopped.INSTANCE);
        writer.tell(new SocketWriter.Close());
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> {
                    if (f.event() instanceof SocketReader.Received) {
                        reader.tell(SocketReader.Consumed.INSTANCE);
                        return Behaviors.same();
                    }
                    return closed();
                })
                .onMessageEquals(WriterStopped.INSTANCE, this::closed)
                .onMessageEquals(CloseTimedOut.INSTANCE, this::closed)
                .onMessage(Command.class, c -> Behaviors.same())
                .build();
    }

    private Behavior<Command> closed() {
        parent.tell(new Closed(context.getSelf()));
        return Behaviors.stopped();
    }

    // ---- helpers ----------------------------------------------------------------------------------

    private void send(FrontendMessage message) {
        writer.tell(new SocketWriter.WriteRaw(FrontendCodec.encode(message)));
    }

    private Behavior<Command> unexpected(Object message, String stateName) {
        String name = message instanceof BackendMessage || message instanceof AcceptorMessage
                ? message.getClass().getSimpleName() : String.valueOf(message);
        return fail("unexpected message " + name + " from the node in the " + stateName + " state", null);
    }

    /** Reports the failure and stops; the reader stops with us, which closes the socket. */
    private Behavior<Command> fail(String reason, String sqlState) {
        context.getLog().info("{}: node connection ends: {}{}", settings.timeline(), reason,
                sqlState == null ? "" : " (" + sqlState + ")");
        parent.tell(new Failed(context.getSelf(), reason, sqlState));
        return Behaviors.stopped();
    }
}
