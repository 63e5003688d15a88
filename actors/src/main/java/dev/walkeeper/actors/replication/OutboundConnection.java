package dev.walkeeper.actors.replication;

import dev.walkeeper.actors.client.ClientAuthenticator;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.BackendKeyData;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.NoticeResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.replication.ReceiverMessage;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The client role of the PostgreSQL protocol over one outgoing connection, for pushing WAL to a
 * downstream ({@code START_PUSH_REPLICATION}, replication-protocol.md "Push"). One method per state:
 * {@link #start()} (StartupMessage sent) → {@link #authenticating} (the server's requests answered
 * by a {@link ClientAuthenticator}: trust, cleartext, md5 or SCRAM-SHA-256) →
 * {@link #awaitingReady()} → {@link #startingPush()} (the query sent, CopyBothResponse expected) →
 * {@link #awaitingStartPosition()} ({@code 'i'}) → {@link #pushing()} → {@link #ending} →
 * {@link #closing()}.
 *
 * <p>Its socket halves are children, as for a server-side connection: the reader (window 1 until
 * the roles switch, so a decoder switch applies exactly from the next message) decodes backend
 * messages, and inside CopyBoth the receiver's messages ({@code r}, {@code h}, {@code z},
 * {@code i}); the writer sends frontend messages as raw frames.
 *
 * <p>The parent decides what is sent while pushing ({@link Send}) and gets {@link Written} once the
 * socket took it, so it can bound what is outstanding. It learns everything else from the
 * {@link Event}s: {@link Pushing} with the downstream's start LSN, each {@link Received} message,
 * and the end — {@link Failed} (an ErrorResponse, a protocol violation, the connection lost or
 * the handshake timed out), after which the actor stops at once, or {@link Finished} after a clean
 * end of the stream (either side's CopyDone). Each event names the connection it came from, so a
 * parent that reconnects can ignore a late one from a previous connection.
 */
public final class OutboundConnection {

    public sealed interface Command {}

    /** Send {@code message} inside CopyData; {@link Written} with {@code token} follows once the socket took it. */
    public record Send(SenderMessage message, long token) implements Command {
        public Send {
            Objects.requireNonNull(message, "message");
        }
    }

    /** End the push cleanly: CopyDone, wait for the downstream's CopyDone and ReadyForQuery, Terminate. */
    public enum Finish implements Command { INSTANCE }

    private record FromReader(SocketReader.Event event) implements Command {}

    private record FromWriter(SocketWriter.Written written) implements Command {}

    private enum HandshakeTimedOut implements Command { INSTANCE }

    private enum DrainTimedOut implements Command { INSTANCE }

    private enum WriterStopped implements Command { INSTANCE }

    /** What the connection tells its parent. */
    public sealed interface Event {
        /** The connection this event comes from. */
        ActorRef<Command> connection();
    }

    /** The handshake is done and the roles switched; the downstream wants WAL from {@code startLsn}. */
    public record Pushing(ActorRef<Command> connection, Lsn startLsn) implements Event {}

    /** A message of the downstream: {@code 'r'}, {@code 'h'} or {@code 'z'}. */
    public record Received(ActorRef<Command> connection, ReceiverMessage message) implements Event {}

    /** The socket took the {@link Send} with this token (and everything sent before it). */
    public record Written(ActorRef<Command> connection, long token) implements Event {}

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
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            ActorRef<SocketReader.Event> events = ctx.messageAdapter(SocketReader.Event.class, FromReader::new);
            SocketFactory.Halves halves = sockets.attach(ctx, events);
            timers.startSingleTimer(HandshakeTimedOut.INSTANCE, settings.handshakeTimeout());
            return new OutboundConnection(ctx, timers, settings, commitLsn, parent, halves).start();
        }));
    }

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final Settings settings;
    private final Lsn commitLsn;
    private final ActorRef<Event> parent;
    private final ActorRef<SocketReader.Command> reader;
    private final ActorRef<SocketWriter.Command> writer;
    private final ActorRef<SocketWriter.Written> written;

    private OutboundConnection(ActorContext<Command> context, TimerScheduler<Command> timers, Settings settings,
                               Lsn commitLsn, ActorRef<Event> parent, SocketFactory.Halves halves) {
        this.context = context;
        this.timers = timers;
        this.settings = settings;
        this.commitLsn = commitLsn;
        this.parent = parent;
        this.reader = halves.reader();
        this.writer = halves.writer();
        this.written = context.messageAdapter(SocketWriter.Written.class, FromWriter::new);
    }

    /** Handles one state's messages from the downstream. */
    private interface MessageHandler {
        Behavior<Command> handle(Object message);
    }

    /** Handles one state's commands from the parent. */
    private interface CommandHandler {
        Behavior<Command> handle(Command command);
    }

    private Behavior<Command> state(MessageHandler handler) {
        return state(handler, command -> {
            if (command == Finish.INSTANCE) {
                // Nothing is being pushed yet: leave without the CopyBoth goodbye.
                send(new Terminate());
                return close();
            }
            context.getLog().debug("{}: ignoring {} before the push started", settings.timeline(), command);
            return Behaviors.same();
        });
    }

    private Behavior<Command> state(MessageHandler handler, CommandHandler commands) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), handler))
                .onMessage(FromWriter.class, f -> {
                    parent.tell(new Written(context.getSelf(), f.written().token()));
                    return Behaviors.same();
                })
                .onMessageEquals(HandshakeTimedOut.INSTANCE, () -> fail(
                        "no START_PUSH_REPLICATION handshake within " + settings.handshakeTimeout(), null))
                .onMessage(Send.class, commands::handle)
                .onMessageEquals(Finish.INSTANCE, () -> commands.handle(Finish.INSTANCE))
                .build();
    }

    private Behavior<Command> onReaderEvent(SocketReader.Event event, MessageHandler handler) {
        if (event instanceof SocketReader.Received received) {
            Object message = received.message();
            Behavior<Command> next;
            if (message instanceof ErrorResponse error) {
                next = fail("downstream error: " + error.message(), error.code());
            } else if (message instanceof NoticeResponse notice) {
                context.getLog().info("{}: downstream notice: {}", settings.timeline(), notice.message());
                next = Behaviors.same();
            } else {
                next = handler.handle(message);
            }
            reader.tell(SocketReader.Consumed.INSTANCE);
            return next;
        }
        if (event instanceof SocketReader.ReadFailed failed) {
            return fail("invalid message from the downstream: " + failed.cause().getMessage(), null);
        }
        return fail(((SocketReader.PeerClosed) event).reason(), null);
    }

    // ---- startup and authentication --------------------------------------------------------------

    private Behavior<Command> start() {
        send(startupMessage(settings));
        return authenticating(new ClientAuthenticator(settings.user(), settings.password(), "downstream"),
                "startup");
    }

    /**
     * The StartupMessage is out (or queued until the socket connects); the server's authentication
     * requests are answered by {@code auth} until it accepts us.
     */
    private Behavior<Command> authenticating(ClientAuthenticator auth, String stateName) {
        return state(message -> {
            ClientAuthenticator.Step step = auth.onMessage(message);
            if (step instanceof ClientAuthenticator.Reply reply) {
                send(reply.message());
                return authenticating(auth, "authentication");
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
            return unexpected(message, stateName);
        });
    }

    // ---- ready: the server's parameters, then the command -----------------------------------------

    private Behavior<Command> awaitingReady() {
        return state(message -> {
            if (message instanceof ParameterStatus || message instanceof BackendKeyData) {
                return Behaviors.same();
            }
            if (message instanceof ReadyForQuery) {
                send(new Query(startPushQuery(settings, commitLsn)));
                return startingPush();
            }
            return unexpected(message, "ready");
        });
    }

    private Behavior<Command> startingPush() {
        return state(message -> {
            if (message instanceof CopyBothResponse) {
                // Window 1: the next message is decoded by the CopyBoth decoder.
                reader.tell(new SocketReader.SwitchDecoder(OutboundConnection::decodeCopyBothFrame, 1));
                return awaitingStartPosition();
            }
            if (message instanceof ParameterStatus) {
                return Behaviors.same();
            }
            return unexpected(message, "START_PUSH_REPLICATION");
        });
    }

    private Behavior<Command> awaitingStartPosition() {
        return state(message -> {
            if (message instanceof StartPosition start) {
                timers.cancel(HandshakeTimedOut.INSTANCE);
                reader.tell(new SocketReader.SwitchDecoder(OutboundConnection::decodeCopyBothFrame, PUSH_WINDOW));
                parent.tell(new Pushing(context.getSelf(), start.startLsn()));
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
            if (message instanceof ParameterStatus) {
                return Behaviors.same(); // a server may report a changed setting at any time
            }
            if (message instanceof CopyDone) {
                // The downstream ends the stream: answer CopyDone, then its CommandComplete and ReadyForQuery follow.
                send(new CopyDone());
                return ending();
            }
            return unexpected(message, "pushing");
        }, command -> {
            if (command instanceof Send s) {
                send(new CopyData(ReplicationCodec.encode(s.message())));
                writer.tell(new SocketWriter.NotifyWhenWritten(s.token(), written));
                return Behaviors.same();
            }
            send(new CopyDone());
            return ending();
        });
    }

    // ---- ending and closing -----------------------------------------------------------------------

    /** Our CopyDone is out; the downstream's CopyDone, CommandComplete and ReadyForQuery are awaited. */
    private Behavior<Command> ending() {
        timers.startSingleTimer(DrainTimedOut.INSTANCE, settings.drainTimeout());
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), message -> {
                    if (message instanceof StartPosition) {
                        return unexpected(message, "ending");
                    }
                    if (message instanceof ReceiverMessage receiverMessage) {
                        parent.tell(new Received(context.getSelf(), receiverMessage));
                        return Behaviors.same();
                    }
                    if (message instanceof CopyDone || message instanceof CommandComplete
                            || message instanceof ParameterStatus) {
                        return Behaviors.same();
                    }
                    if (message instanceof ReadyForQuery) {
                        send(new Terminate());
                        return close();
                    }
                    return unexpected(message, "ending");
                }))
                .onMessage(FromWriter.class, f -> {
                    parent.tell(new Written(context.getSelf(), f.written().token()));
                    return Behaviors.same();
                })
                .onMessageEquals(DrainTimedOut.INSTANCE, () -> fail(
                        "the downstream did not end the stream within " + settings.drainTimeout(), null))
                .onMessageEquals(HandshakeTimedOut.INSTANCE, Behaviors::same)
                .onMessage(Send.class, s -> Behaviors.same())
                .onMessageEquals(Finish.INSTANCE, Behaviors::same)
                .build();
    }

    /** Flush what is queued, close the socket, and stop once the writer has (or the drain timeout passed). */
    private Behavior<Command> close() {
        timers.cancel(HandshakeTimedOut.INSTANCE);
        timers.startSingleTimer(DrainTimedOut.INSTANCE, settings.drainTimeout());
        context.watchWith(writer, WriterStopped.INSTANCE);
        writer.tell(new SocketWriter.Close());
        return closing();
    }

    private Behavior<Command> closing() {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> {
                    if (f.event() instanceof SocketReader.Received) {
                        reader.tell(SocketReader.Consumed.INSTANCE);
                        return Behaviors.same();
                    }
                    return finished();
                })
                .onMessageEquals(WriterStopped.INSTANCE, this::finished)
                .onMessageEquals(DrainTimedOut.INSTANCE, this::finished)
                .onMessage(Command.class, c -> Behaviors.same())
                .build();
    }

    private Behavior<Command> finished() {
        parent.tell(new Finished(context.getSelf()));
        return Behaviors.stopped();
    }

    // ---- helpers ----------------------------------------------------------------------------------

    private void send(FrontendMessage message) {
        writer.tell(new SocketWriter.WriteRaw(FrontendCodec.encode(message)));
    }

    private Behavior<Command> unexpected(Object message, String stateName) {
        String name = message instanceof BackendMessage || message instanceof ReceiverMessage
                ? message.getClass().getSimpleName() : String.valueOf(message);
        return fail("unexpected message " + name + " from the downstream in the " + stateName + " state",
                null);
    }

    /**
     * Reports the failure and stops; stopping the reader cancels the inbound stream, which
     * closes the socket (the two sides are coupled).
     */
    private Behavior<Command> fail(String reason, String sqlState) {
        context.getLog().info("{}: push connection ends: {}{}", settings.timeline(), reason,
                sqlState == null ? "" : " (" + sqlState + ")");
        parent.tell(new Failed(context.getSelf(), reason, sqlState));
        return Behaviors.stopped();
    }
}
