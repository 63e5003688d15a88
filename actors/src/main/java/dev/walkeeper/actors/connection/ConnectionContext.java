package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.net.InetSocketAddress;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * What the {@link Connection} actor shares with its roles: its actor context, the socket's two
 * halves, the node's settings and timelines, and the session once authenticated. Roles write
 * through it and hold or release the reader; the connection decides the states.
 *
 * <p>Used only on the connection actor's thread.
 */
final class ConnectionContext {
    /** How long another actor may take to answer a connection's question. */
    static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

    private final ActorContext<Connection.Command> actor;
    private final ConnectionSettings settings;
    private final ActorRef<TimelineRegistry.Command> timelines;
    private final PushReceivers pushReceivers;
    private final InetSocketAddress client;
    private final ActorRef<SocketReader.Command> reader;
    private final ActorRef<SocketWriter.Command> writer;
    private Session session;
    /** Set by a handler that answers later: the reader gets its Consumed when the answer is out. */
    private boolean readerHeld;

    ConnectionContext(ActorContext<Connection.Command> actor, ConnectionSettings settings,
                      ActorRef<TimelineRegistry.Command> timelines, PushReceivers pushReceivers,
                      InetSocketAddress client, ActorRef<SocketReader.Command> reader,
                      ActorRef<SocketWriter.Command> writer) {
        this.actor = actor;
        this.settings = settings;
        this.timelines = timelines;
        this.pushReceivers = pushReceivers;
        this.client = client;
        this.reader = reader;
        this.writer = writer;
    }

    ActorContext<Connection.Command> actor() {
        return actor;
    }

    ConnectionSettings settings() {
        return settings;
    }

    ActorRef<TimelineRegistry.Command> timelines() {
        return timelines;
    }

    /** Null unless this node accepts START_PUSH_REPLICATION ({@code walkeeper receive}). */
    PushReceivers pushReceivers() {
        return pushReceivers;
    }

    InetSocketAddress client() {
        return client;
    }

    /** What the StartupMessage established; set once authentication succeeded. */
    Session session() {
        return session;
    }

    void authenticated(Session session) {
        this.session = session;
    }

    /** Asks the registry for timeline {@code id}; the answer arrives as {@link Connection.TimelineResolved}. */
    void resolveTimeline(TenantTimelineId id) {
        actor.ask(ActorRef.class, timelines, ASK_TIMEOUT, replyTo -> new TimelineRegistry.Get(id, narrow(replyTo)),
                (timeline, failure) -> new Connection.TimelineResolved(failure == null ? narrow(timeline) : null,
                        failure));
    }

    @SuppressWarnings("unchecked")
    private static <T> ActorRef<T> narrow(ActorRef<?> ref) {
        return (ActorRef<T>) ref;
    }

    /** The timeline this session serves: the startup options', else the node's default (or null). */
    TenantTimelineId servedTimeline() {
        TenantTimelineId fromOptions = session.optionsTimeline();
        return fromOptions != null ? fromOptions : settings.defaultTimeline();
    }

    // ---- the writer ---------------------------------------------------------------------------

    /** The socket's writer, for a child that writes on this connection itself (the WAL sender). */
    ActorRef<SocketWriter.Command> writer() {
        return writer;
    }

    void write(BackendMessage message) {
        writer.tell(new SocketWriter.Write(message));
    }

    void writeRaw(byte[] bytes) {
        writer.tell(new SocketWriter.WriteRaw(bytes));
    }

    /** Flushes what was written and closes the socket's write side. */
    void closeWriter() {
        writer.tell(new SocketWriter.Close());
    }

    /** Logs and writes a FATAL ErrorResponse; the caller drains the connection. */
    void fatal(SqlState state, String message) {
        actor.getLog().info("{}: closing: {} ({})", client, message, state.code());
        write(ErrorResponse.fatal(state, message));
    }

    /** A message the named state does not expect: FATAL 08P01; the caller drains the connection. */
    void unexpected(Object message, String stateName) {
        String name = message instanceof FrontendMessage ? message.getClass().getSimpleName() : String.valueOf(message);
        fatal(SqlState.PROTOCOL_VIOLATION, "unexpected message " + name + " in the " + stateName + " state");
    }

    // ---- the reader ---------------------------------------------------------------------------

    /** A new message is being handled: unless its handler holds the reader, it is consumed after. */
    void messageArrived() {
        readerHeld = false;
    }

    /** The handler answers later and calls {@link #releaseReader()} itself when it has. */
    void holdReader() {
        readerHeld = true;
    }

    boolean readerHeld() {
        return readerHeld;
    }

    /** Releases the reader if the last handler held it, e.g. before draining a connection that waited. */
    void releaseHeldReader() {
        if (readerHeld) {
            readerHeld = false;
            releaseReader();
        }
    }

    /** The socket's reader, for a child that releases it itself (the push receiver's worker). */
    ActorRef<SocketReader.Command> reader() {
        return reader;
    }

    /** The reader may decode the next message. */
    void releaseReader() {
        reader.tell(SocketReader.Consumed.INSTANCE);
    }

    /** From the next message on, the reader decodes with {@code decoder}, up to {@code window} ahead. */
    void switchDecoder(SocketReader.Decoder decoder, int window) {
        reader.tell(new SocketReader.SwitchDecoder(decoder, window));
    }
}
