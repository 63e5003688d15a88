package dev.walkeeper.actors.replication;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.replication.ReceiverMessage;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The client role of the PostgreSQL protocol over one outgoing connection, for pushing WAL to a
 * downstream ({@code START_PUSH_REPLICATION}, replication-protocol.md "Push"). One method per state:
 * startup, authentication (trust, cleartext, md5 or SCRAM-SHA-256) and ReadyForQuery as every
 * {@link ClientConnection} → {@link #startingPush()} (the query sent, CopyBothResponse expected) →
 * {@link #awaitingStartPosition()} ({@code 'i'}) → {@link #pushing()} → {@link #ending} → closing.
 *
 * <p>Its socket halves are children, as for a server-side connection: the reader (window 1 until
 * the roles switch, so a decoder switch applies exactly from the next message) decodes backend
 * messages, and inside CopyBoth the receiver's messages ({@code r}, {@code h}, {@code z},
 * {@code i}); the writer sends frontend messages as raw frames.
 *
 * <p>While pushing, the parent's {@link WalSender} writes the WAL and keepalives straight to this
 * connection's socket writer, which {@link Pushing} hands over (CopyData is framed alike both
 * ways); the parent stops it before a {@link Finish}. It learns everything else from the
 * {@link Event}s: {@link Pushing} with the downstream's start LSN, each {@link Received} message,
 * and the end — {@link Failed} (an ErrorResponse, a protocol violation, the connection lost or
 * the handshake timed out), after which the actor stops at once, or {@link Finished} after a clean
 * end of the stream (either side's CopyDone). Each event names the connection it came from, so a
 * parent that reconnects can ignore a late one from a previous connection.
 */
public final class OutboundConnection extends ClientConnection<OutboundConnection.Command> {

    public sealed interface Command {}

    /** End the push cleanly: CopyDone, wait for the downstream's CopyDone and ReadyForQuery, Terminate. */
    public enum Finish implements Command { INSTANCE }

    private record ClientSignal(ClientConnection.Signal signal) implements Command, ClientConnection.Envelope {}

    private enum DrainTimedOut implements Command { INSTANCE }

    /** What the connection tells its parent. */
    public sealed interface Event {
        /** The connection this event comes from. */
        ActorRef<Command> connection();
    }

    /**
     * The handshake is done and the roles switched; the downstream wants WAL from {@code startLsn}.
     * XLogData and keepalives go to {@code writer} as whole CopyData frames.
     */
    public record Pushing(ActorRef<Command> connection, Lsn startLsn, ActorRef<SocketWriter.Command> writer)
            implements Event {}

    /** A message of the downstream: {@code 'r'}, {@code 'h'} or {@code 'z'}. */
    public record Received(ActorRef<Command> connection, ReceiverMessage message) implements Event {}

    /**
     * The connection failed and the actor stops.
     *
     * @param sqlState the SQLSTATE of the downstream's ErrorResponse, or null when the failure is not
     *     the downstream's answer (connection lost, protocol violation, timeout)
     */
    public record Failed(ActorRef<Command> connection, String reason, String sqlState) implements Event {}

    /** The stream ended cleanly (our Finish or the downstream's CopyDone) and the actor stops. */
    public record Finished(ActorRef<Command> connection) implements Event {}

    /**
     * What the connection says about itself.
     *
     * @param password null when the downstream is expected to trust the user
     * @param handshakeTimeout connect, authentication and start of the push together
     * @param drainTimeout how long the clean end may take before the socket is closed anyway
     */
    public record Settings(String user, String password, long nodeId, TenantTimelineId timeline, long systemId,
                           int walSegSize, int pgVersion, Duration handshakeTimeout, Duration drainTimeout) {
        public Settings {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(timeline, "timeline");
        }

        public String applicationName() {
            return "walkeeper_" + nodeId;
        }
    }

    /** Receiver messages the reader may decode ahead of the parent while pushing. */
    private static final int PUSH_WINDOW = 16;

    /** The StartupMessage of a pushing node, as replication-protocol.md describes it. */
    public static StartupMessage startupMessage(Settings settings) {
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("user", settings.user());
        parameters.put("database", "replication");
        parameters.put("replication", "true");
        parameters.put("application_name", settings.applicationName());
        parameters.put("options", "-c tenant_id=" + settings.timeline().tenantId() + " timeline_id="
                + settings.timeline().timelineId());
        return new StartupMessage(FrontendMessage.PROTOCOL_3_0, parameters);
    }

    /** {@code START_PUSH_REPLICATION <tenant> <timeline> <X/Y> (system_id '…', wal_seg_size '…', pg_version '…')}. */
    public static String startPushQuery(Settings settings, Lsn commitLsn) {
        return "START_PUSH_REPLICATION " + settings.timeline().tenantId() + " " + settings.timeline().timelineId()
                + " " + commitLsn + " (system_id '" + Long.toUnsignedString(settings.systemId())
                + "', wal_seg_size '" + settings.walSegSize() + "', pg_version '" + settings.pgVersion() + "')";
    }

    /** Inside CopyBoth, CopyData carries the receiver's messages; other frames stay backend messages. */
    static Object decodeCopyBothFrame(Frame frame) {
        BackendMessage message = BackendCodec.decode(frame);
        return message instanceof CopyData data ? ReplicationCodec.decodeReceiverMessage(data.data()) : message;
    }

    /**
     * @param commitLsn the commit LSN named in the START_PUSH_REPLICATION command
     * @param sockets gives the socket halves: {@code OutgoingTcpSocketFactory} with
     *     {@code FrameDecoder.forClient} and {@code BackendCodec::decode}, or probes in tests
     */
    public static Behavior<Command> create(Settings settings, Lsn commitLsn, ActorRef<Event> parent,
                                           SocketFactory sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new OutboundConnection(ctx, timers, settings, commitLsn, parent, sockets)
                        .start(startupMessage(settings), settings.user(), settings.password())));
    }

    private final Settings settings;
    private final Lsn commitLsn;
    private final ActorRef<Event> parent;

    private OutboundConnection(ActorContext<Command> context, TimerScheduler<Command> timers, Settings settings,
                               Lsn commitLsn, ActorRef<Event> parent, SocketFactory sockets) {
        super(context, timers, ClientSignal::new, sockets, new Profile(settings.timeline().toString(), "downstream",
                "START_PUSH_REPLICATION", settings.handshakeTimeout(), settings.drainTimeout()));
        this.settings = settings;
        this.commitLsn = commitLsn;
        this.parent = parent;
    }

    /** A state before the push: Finish just terminates, without the CopyBoth goodbye. */
    @Override
    protected Behavior<Command> state(MessageHandler<Command> handler) {
        return state(handler, this::terminate);
    }

    private Behavior<Command> state(MessageHandler<Command> handler, Supplier<Behavior<Command>> onFinish) {
        return Behaviors.receive(Command.class)
                .onMessage(ClientSignal.class, s -> onSignal(s.signal(), handler))
                .onMessageEquals(DrainTimedOut.INSTANCE, () -> fail(
                        "the downstream did not end the stream within " + settings.drainTimeout(), null))
                .onMessageEquals(Finish.INSTANCE, onFinish::get)
                .build();
    }

    // ---- the command ------------------------------------------------------------------------------

    @Override
    protected Behavior<Command> ready() {
        send(new Query(startPushQuery(settings, commitLsn)));
        return startingPush();
    }

    private Behavior<Command> startingPush() {
        return state(message -> {
            if (message instanceof CopyBothResponse) {
                // Window 1: the next message is decoded by the CopyBoth decoder.
                switchDecoder(OutboundConnection::decodeCopyBothFrame, 1);
                return awaitingStartPosition();
            }
            return unexpected(message, "START_PUSH_REPLICATION");
        });
    }

    private Behavior<Command> awaitingStartPosition() {
        return state(message -> {
            if (message instanceof StartPosition start) {
                handshakeDone();
                switchDecoder(OutboundConnection::decodeCopyBothFrame, PUSH_WINDOW);
                parent.tell(new Pushing(context.getSelf(), start.startLsn(), socketWriter()));
                return pushing();
            }
            return unexpected(message, "start-position");
        });
    }

    // ---- pushing: the roles switched --------------------------------------------------------------

    private Behavior<Command> pushing() {
        return state(message -> {
            if (message instanceof StartPosition) {
                return unexpected(message, "pushing");
            }
            if (message instanceof ReceiverMessage receiverMessage) {
                parent.tell(new Received(context.getSelf(), receiverMessage));
                return Behaviors.same();
            }
            if (message instanceof CopyDone) {
                // The downstream ends the stream: answer CopyDone, then its CommandComplete and ReadyForQuery follow.
                send(new CopyDone());
                return ending();
            }
            return unexpected(message, "pushing");
        }, () -> {
            send(new CopyDone());
            return ending();
        });
    }

    // ---- ending -----------------------------------------------------------------------------------

    /** Our CopyDone is out; the downstream's CopyDone, CommandComplete and ReadyForQuery are awaited. */
    private Behavior<Command> ending() {
        timers.startSingleTimer(DrainTimedOut.INSTANCE, settings.drainTimeout());
        return state(message -> {
            if (message instanceof StartPosition) {
                return unexpected(message, "ending");
            }
            if (message instanceof ReceiverMessage receiverMessage) {
                parent.tell(new Received(context.getSelf(), receiverMessage));
                return Behaviors.same();
            }
            if (message instanceof CopyDone || message instanceof CommandComplete) {
                return Behaviors.same();
            }
            if (message instanceof ReadyForQuery) {
                return terminate();
            }
            return unexpected(message, "ending");
        }, Behaviors::same); // our CopyDone is out: nothing more is sent
    }

    // ---- what the parent is told ------------------------------------------------------------------

    @Override
    protected void reportFailed(String reason, String sqlState) {
        parent.tell(new Failed(context.getSelf(), reason, sqlState));
    }

    @Override
    protected void reportClosed() {
        parent.tell(new Finished(context.getSelf()));
    }
}
