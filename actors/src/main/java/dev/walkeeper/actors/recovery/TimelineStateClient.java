package dev.walkeeper.actors.recovery;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * Asks a peer for a timeline's acceptor state: a {@link ClientConnection} that runs
 * {@code TIMELINE_STATE} once, reports the row as a {@link TimelineSnapshot} ({@link Answered},
 * with null when the peer does not hold the timeline) and terminates. Any failure →
 * {@link Failed}.
 */
public final class TimelineStateClient extends ClientConnection<TimelineStateClient.Command> {

    public sealed interface Command {}

    private record ClientSignal(ClientConnection.Signal signal) implements Command, ClientConnection.Envelope {}

    public sealed interface Event {}

    /** The peer's state of the timeline, or null if it holds none. */
    public record Answered(TimelineSnapshot snapshot) implements Event {}

    /** Unreachable, refused, or a malformed answer; {@code sqlState} is the peer's when it sent an error. */
    public record Failed(String reason, String sqlState) implements Event {}

    public static Behavior<Command> create(String user, String password, long nodeId, TenantTimelineId timeline,
                                           Duration timeout, ActorRef<Event> parent, SocketFactory sockets) {
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("user", user);
        parameters.put("database", "replication");
        parameters.put("replication", "true");
        parameters.put("application_name", "walkeeper_copy_" + nodeId);
        parameters.put("options", "-c tenant_id=" + timeline.tenantId() + " timeline_id=" + timeline.timelineId());
        StartupMessage startup = new StartupMessage(FrontendMessage.PROTOCOL_3_0, parameters);
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new TimelineStateClient(ctx, timers, timeline, timeout, parent, sockets).start(startup, user, password)));
    }

    private final ActorRef<Event> parent;
    private List<RowDescription.Field> fields;
    private TimelineSnapshot snapshot;
    private boolean reported;

    private TimelineStateClient(ActorContext<Command> context, TimerScheduler<Command> timers, TenantTimelineId timeline,
                                Duration timeout, ActorRef<Event> parent, SocketFactory sockets) {
        super(context, timers, ClientSignal::new, sockets, new Profile(timeline + " state", "peer", "TIMELINE_STATE",
                timeout, Duration.ofSeconds(5)));
        this.parent = parent;
    }

    @Override
    protected Behavior<Command> state(MessageHandler<Command> handler) {
        return Behaviors.receive(Command.class)
                .onMessage(ClientSignal.class, s -> onSignal(s.signal(), handler))
                .build();
    }

    @Override
    protected Behavior<Command> ready() {
        send(new Query("TIMELINE_STATE"));
        return state(message -> {
            if (message instanceof RowDescription description) {
                fields = description.fields();
                return Behaviors.same();
            }
            if (message instanceof DataRow row && fields != null && row.values().size() == fields.size()) {
                Map<String, String> columns = new HashMap<>();
                for (int i = 0; i < fields.size(); i++) {
                    byte[] value = row.values().get(i);
                    columns.put(fields.get(i).name(), value == null ? null : new String(value, StandardCharsets.UTF_8));
                }
                try {
                    snapshot = TimelineSnapshot.fromRow(columns);
                } catch (ProtocolException e) {
                    return fail(e.getMessage(), null);
                }
                return Behaviors.same();
            }
            if (message instanceof CommandComplete) {
                return Behaviors.same();
            }
            if (message instanceof ReadyForQuery) {
                handshakeDone();
                reported = true;
                parent.tell(new Answered(snapshot));
                return terminate();
            }
            return unexpected(message, "TIMELINE_STATE");
        });
    }

    @Override
    protected void reportFailed(String reason, String sqlState) {
        if (!reported) {
            parent.tell(new Failed(reason, sqlState));
        }
    }

    @Override
    protected void reportClosed() {
        // The answer went before Terminate.
    }
}
