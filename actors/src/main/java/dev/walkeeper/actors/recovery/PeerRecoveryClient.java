package dev.walkeeper.actors.recovery;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.replication.PgTime;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * A recovery stream from one peer: a {@link ClientConnection} that sends
 * {@code START_REPLICATION PHYSICAL <from> (term='N')} (the peer streams its WAL up to its flush
 * LSN, and ends the stream if its term changes) and hands each XLogData to its timeline as
 * {@link Timeline.RecoveredWal}, the path the acceptor's own rules check and the group commit
 * flushes. An XLogData stays unconsumed until the timeline wrote it, so at most {@link #WINDOW}
 * chunks wait and then TCP holds the peer back. States: the base's startup and authentication →
 * {@link #starting()} → {@link #streaming()}; {@link Stop} terminates. A refusal by the timeline,
 * an ErrorResponse, the peer's CopyDone or a lost connection → {@link Failed} and the actor stops.
 */
public final class PeerRecoveryClient extends ClientConnection<PeerRecoveryClient.Command> {

    public sealed interface Command {}

    /** End the stream: Terminate and close. */
    public enum Stop implements Command { INSTANCE }

    private record ClientSignal(ClientConnection.Signal signal) implements Command, ClientConnection.Envelope {}

    private record FromTimeline(Timeline.RecoveryReply reply) implements Command {}

    /** What the client tells its parent; each event names the client it came from. */
    public sealed interface Event {
        ActorRef<Command> client();
    }

    /** The stream failed and the actor stopped; {@code sqlState} is the peer's, if it sent an error. */
    public record Failed(ActorRef<Command> client, String reason, String sqlState) implements Event {}

    /** Stopped on request. */
    public record Closed(ActorRef<Command> client) implements Event {}

    /**
     * @param password null when the peer trusts the user
     * @param term the last log term the WAL must be of (ours, and the peer's when the plan was made)
     * @param from our flush LSN: where the stream starts
     * @param peerCommitLsn the peer's published commit LSN: ours may advance to it within our flush
     */
    public record Settings(String user, String password, long nodeId, TenantTimelineId timeline, long term, Lsn from,
                           Lsn peerCommitLsn, Duration handshakeTimeout) {
        public Settings {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(timeline, "timeline");
        }
    }

    /** XLogData chunks (≤ 128 KiB each) read ahead of the timeline. */
    static final int WINDOW = 8;

    /** The StartupMessage: a replication connection named after this node, as Neon's {@code safekeeper_<id>}. */
    static StartupMessage startupMessage(Settings settings) {
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("user", settings.user());
        parameters.put("database", "replication");
        parameters.put("replication", "true");
        parameters.put("application_name", "walkeeper_recovery_" + settings.nodeId());
        parameters.put("options", "-c tenant_id=" + settings.timeline().tenantId() + " timeline_id="
                + settings.timeline().timelineId());
        return new StartupMessage(FrontendMessage.PROTOCOL_3_0, parameters);
    }

    static String startReplicationQuery(Settings settings) {
        return "START_REPLICATION PHYSICAL " + settings.from() + " (term='" + Long.toUnsignedString(settings.term())
                + "')";
    }

    /** Inside CopyBoth, CopyData carries the walsender's messages; other frames stay backend messages. */
    private static Object decodeCopyBothFrame(Frame frame) {
        BackendMessage message = BackendCodec.decode(frame);
        return message instanceof CopyData data ? ReplicationCodec.decodeSenderMessage(data.data()) : message;
    }

    public static Behavior<Command> create(Settings settings, ActorRef<Timeline.Command> timeline,
                                           ActorRef<Event> parent, SocketFactory sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new PeerRecoveryClient(ctx, timers, settings, timeline, parent, sockets)
                        .start(startupMessage(settings), settings.user(), settings.password())));
    }

    private final Settings settings;
    private final ActorRef<Timeline.Command> timeline;
    private final ActorRef<Event> parent;
    private final ActorRef<Timeline.RecoveryReply> replies;
    /** The end of the WAL the timeline wrote from this stream. */
    private Lsn written;

    private PeerRecoveryClient(ActorContext<Command> context, TimerScheduler<Command> timers, Settings settings,
                               ActorRef<Timeline.Command> timeline, ActorRef<Event> parent, SocketFactory sockets) {
        super(context, timers, ClientSignal::new, sockets, new Profile(settings.timeline() + " recovery", "peer",
                "START_REPLICATION", settings.handshakeTimeout(), Duration.ofSeconds(5)));
        this.settings = settings;
        this.timeline = timeline;
        this.parent = parent;
        this.written = settings.from();
        this.replies = context.messageAdapter(Timeline.RecoveryReply.class, FromTimeline::new);
    }

    @Override
    protected Behavior<Command> state(MessageHandler<Command> handler) {
        return Behaviors.receive(Command.class)
                .onMessage(ClientSignal.class, s -> onSignal(s.signal(), handler))
                .onMessage(FromTimeline.class, this::onTimelineReply)
                .onMessageEquals(Stop.INSTANCE, this::terminate)
                .build();
    }

    @Override
    protected Behavior<Command> ready() {
        send(new Query(startReplicationQuery(settings)));
        return starting();
    }

    private Behavior<Command> starting() {
        return state(message -> {
            if (message instanceof CopyBothResponse) {
                handshakeDone();
                switchDecoder(PeerRecoveryClient::decodeCopyBothFrame, WINDOW);
                return streaming();
            }
            return unexpected(message, "START_REPLICATION");
        });
    }

    private Behavior<Command> streaming() {
        return state(message -> {
            if (message instanceof XLogData data) {
                keepUnconsumed(); // until the timeline wrote it
                timeline.tell(new Timeline.RecoveredWal(settings.term(), data.walStart(), data.wal(),
                        settings.peerCommitLsn(), replies));
                return Behaviors.same();
            }
            if (message instanceof PrimaryKeepalive keepalive) {
                if (keepalive.replyRequested()) {
                    // Informational for the peer (TIMELINE_CONSUMERS): how far we wrote.
                    long now = PgTime.fromInstant(Instant.now());
                    send(new CopyData(ReplicationCodec.encode(
                            new StandbyStatusUpdate(written, written, Lsn.INVALID, now, false))));
                }
                return Behaviors.same();
            }
            return unexpected(message, "streaming");
        });
    }

    private Behavior<Command> onTimelineReply(FromTimeline reply) {
        if (reply.reply() instanceof Timeline.RecoveryRefused refused) {
            return fail("the timeline refused the recovered WAL: " + refused.reason(), null);
        }
        written = Lsn.max(written, ((Timeline.RecoveryWritten) reply.reply()).end());
        consumed();
        return Behaviors.same();
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
