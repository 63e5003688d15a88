package dev.walkeeper.actors.bridge;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorCodec;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerCodec;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
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
 * parameter), authenticates, sends {@code START_WAL_PUSH (proto_version '3',
 * allow_timeline_creation 'true')} and, once in CopyBoth, carries proposer messages to the node and
 * acceptor messages back. The consensus logic stays in the parent (a {@code Proposer} per
 * timeline); this actor only moves messages.
 *
 * <p>States: startup, authentication and ReadyForQuery as every {@link ClientConnection} →
 * {@link #startingPush()} → {@link #pushing()} → closing. The parent gets {@link Ready}
 * once in CopyBoth, every acceptor message as {@link FromNode}, and {@link Written} for each
 * {@link Send} / {@link SendFrame} with a token once the socket took it (so it can bound what is
 * queued and ack WAL to the primary only after the node's socket has it). A send before
 * {@link Ready} is kept and sent once the node is in CopyBoth.
 *
 * <p>Inside CopyBoth the socket reader reports each acceptor message to the parent itself
 * ({@link #copyBothDecoder}): a node's answer reaches the parent in one hop, not two, while this
 * actor keeps the connection's lifecycle (handshake, failures, close) and sees every other frame.
 * The reader sends the FromNodes of one connection in the order the node sent them; each is
 * followed by a marker to this actor, which consumes it at once. So the parent's mailbox, not the
 * reader's window, bounds the answers in flight: a node answers what it was sent, which the
 * parent's send window already bounds.
 *
 * <p>Any failure — ErrorResponse, protocol violation, lost connection, handshake not done within
 * {@link Settings#handshakeTimeout}, no acceptor message for {@link Settings#replyTimeout} while a
 * sent message awaits one — is {@link Failed} and the actor stops; the parent reconnects with a
 * new one. The reply timeout is walproposer's connection timeout: once elected a node gets a
 * heartbeat (an empty AppendRequest, which the node answers) every second, so a live node is never
 * silent that long, while a frozen or black-holed one is taken out of the quorum instead of
 * having heartbeats pile up in front of its socket. A node that owes nothing (greeted, waiting
 * for the election) is not timed out. {@link Stop} sends Terminate, closes the socket and ends
 * with {@link Closed}.
 */
public final class NodeProposerConnection extends ClientConnection<NodeProposerConnection.Command> {

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

    /**
     * Write {@code frame}, a proposer message's whole CopyData frame from
     * {@link ProposerCodec#encodeCopyData}, as it is: the parent encodes a message once and hands
     * the same array to every node it goes to. Unless {@code token} is {@link #NO_TOKEN},
     * {@link Written} follows.
     */
    public record SendFrame(byte[] frame, long token) implements Command {
        public SendFrame {
            Objects.requireNonNull(frame, "frame");
        }

        @Override
        public String toString() {
            return "SendFrame[" + frame.length + " bytes, token=" + token + "]";
        }
    }

    /** Leave: Terminate, close the socket, {@link Closed}. */
    public enum Stop implements Command { INSTANCE }

    private record ClientSignal(ClientConnection.Signal signal) implements Command, ClientConnection.Envelope {}

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
     * @param replyTimeout how long the node may send nothing while a message sent to it awaits an answer
     */
    public record Settings(String user, String password, TenantTimelineId timeline, Duration handshakeTimeout,
                           Duration closeTimeout, Duration replyTimeout) {
        public Settings {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(timeline, "timeline");
            if (replyTimeout.isNegative() || replyTimeout.isZero()) {
                throw new IllegalArgumentException("replyTimeout " + replyTimeout);
            }
        }

        /** 10 s to start, 2 s to close, {@link #DEFAULT_REPLY_TIMEOUT} to answer. */
        public static Settings defaults(String user, String password, TenantTimelineId timeline) {
            return new Settings(user, password, timeline, Duration.ofSeconds(10), Duration.ofSeconds(2),
                    DEFAULT_REPLY_TIMEOUT);
        }

        public Settings withReplyTimeout(Duration timeout) {
            return new Settings(user, password, timeline, handshakeTimeout, closeTimeout, timeout);
        }
    }

    /**
     * Neon's {@code wal_acceptor_connection_timeout}: ten heartbeats, and room for a slow fsync
     * (a node answers an append once it is flushed).
     */
    public static final Duration DEFAULT_REPLY_TIMEOUT = Duration.ofSeconds(10);

    /** Checks per reply timeout: a silent node is dropped within 1.25 timeouts of its last answer being due. */
    private static final int REPLY_CHECKS_PER_TIMEOUT = 4;

    /** Our timer: is a sent message unanswered for longer than the reply timeout? */
    private enum CheckReply implements Command { INSTANCE }

    /** The command a walproposer (protocol version 3) starts the push with. */
    public static final String START_WAL_PUSH = "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')";

    /** Acceptor messages the reader may decode ahead of us inside CopyBoth. */
    private static final int PUSH_WINDOW = 16;

    /** What the reader delivers for an acceptor message it already reported to the parent. */
    private enum ReportedToParent { INSTANCE }

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
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new NodeProposerConnection(ctx, timers, settings, parent, sockets)
                        .start(startupMessage(settings), settings.user(), settings.password())));
    }

    private final ActorRef<Event> parent;
    private final Duration replyTimeout;
    /** Frames that arrived before CopyBoth; null once pushing. */
    private List<SendFrame> early = new ArrayList<>();
    /** Whether a message went to the node after its last acceptor message, and since when. */
    private boolean awaitingReply;
    private long awaitingReplySinceNanos;

    private NodeProposerConnection(ActorContext<Command> context, TimerScheduler<Command> timers, Settings settings,
                                   ActorRef<Event> parent, SocketFactory sockets) {
        super(context, timers, ClientSignal::new, sockets, new Profile(settings.timeline().toString(), "node",
                "START_WAL_PUSH", settings.handshakeTimeout(), settings.closeTimeout()));
        this.parent = parent;
        this.replyTimeout = settings.replyTimeout();
    }

    /** A state: the node's messages go to {@code handler}; the parent's commands are handled alike in all. */
    @Override
    protected Behavior<Command> state(MessageHandler<Command> handler) {
        return Behaviors.receive(Command.class)
                .onMessage(ClientSignal.class, s -> onSignal(s.signal(), handler))
                .onMessage(Send.class, s ->
                        onSend(new SendFrame(ProposerCodec.encodeCopyData(s.message()), s.token())))
                .onMessage(SendFrame.class, this::onSend)
                .onMessageEquals(CheckReply.INSTANCE, this::checkReply)
                .onMessageEquals(Stop.INSTANCE, this::terminate)
                .build();
    }

    private Behavior<Command> onSend(SendFrame s) {
        if (early != null) {
            early.add(s);
        } else {
            sendToNode(s);
        }
        return Behaviors.same();
    }

    // ---- START_WAL_PUSH ---------------------------------------------------------------------------

    @Override
    protected Behavior<Command> ready() {
        send(new Query(START_WAL_PUSH));
        return startingPush();
    }

    /** The query is out; the reader's window is still 1, so the decoder switch applies from the next frame. */
    private Behavior<Command> startingPush() {
        return state(message -> {
            if (message instanceof CopyBothResponse) {
                handshakeDone();
                parent.tell(new Ready(context.getSelf()));
                switchDecoder(copyBothDecoder(), PUSH_WINDOW);
                timers.startTimerWithFixedDelay(CheckReply.INSTANCE,
                        replyTimeout.dividedBy(REPLY_CHECKS_PER_TIMEOUT));
                List<SendFrame> queued = early;
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
            if (message == ReportedToParent.INSTANCE) {
                awaitingReply = false;
                return Behaviors.same();
            }
            if (message instanceof CopyDone) {
                return fail("the node ended the stream", null);
            }
            return unexpected(message, "pushing");
        });
    }

    /**
     * Runs in the reader: an acceptor message goes from there to the parent as {@link FromNode}
     * (named after this connection, so the parent still tells a replaced one apart), and this actor
     * only gets a marker to consume; ErrorResponse, CopyDone and the like stay ours.
     */
    private SocketReader.Decoder copyBothDecoder() {
        ActorRef<Event> to = parent;
        ActorRef<Command> self = context.getSelf();
        return frame -> {
            Object message = decodeCopyBothFrame(frame);
            if (message instanceof AcceptorMessage acceptorMessage) {
                to.tell(new FromNode(self, acceptorMessage));
                return ReportedToParent.INSTANCE;
            }
            return message;
        };
    }

    /**
     * Every message but ProposerElected (which an AppendRequest follows, at the latest the next
     * heartbeat) gets an answer, a heartbeat too; a node answers appends in batches. So whatever it
     * sends settles what was sent before, and the clock starts again with the next send.
     */
    private Behavior<Command> checkReply() {
        if (awaitingReply && System.nanoTime() - awaitingReplySinceNanos > replyTimeout.toNanos()) {
            return fail("the node sent nothing for " + replyTimeout + " with WAL or a heartbeat outstanding", null);
        }
        return Behaviors.same();
    }

    private void sendToNode(SendFrame s) {
        if (!awaitingReply) {
            awaitingReply = true;
            awaitingReplySinceNanos = System.nanoTime();
        }
        sendEncoded(s.frame());
        if (s.token() != NO_TOKEN) {
            notifyWhenWritten(s.token());
        }
    }

    // ---- what the parent is told ------------------------------------------------------------------

    @Override
    protected void reportWritten(long token) {
        parent.tell(new Written(context.getSelf(), token));
    }

    @Override
    protected void reportFailed(String reason, String sqlState) {
        parent.tell(new Failed(context.getSelf(), reason, sqlState));
    }

    @Override
    protected void reportClosed() {
        parent.tell(new Closed(context.getSelf()));
    }
}
