package dev.walkeeper.actors.bridge;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.PgSize;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * A physical replication client of a vanilla PostgreSQL (15+) primary: the bridge's source of WAL.
 * It plays the frontend of the replication protocol over one outgoing connection: socket halves,
 * startup, authentication (trust, cleartext, md5, SCRAM-SHA-256) and the orderly close are those of
 * every {@link ClientConnection}.
 *
 * <p>Handshake: StartupMessage ({@code user}, {@code replication=true},
 * {@code application_name=<bridge name>}, the name the primary's {@code synchronous_standby_names}
 * uses) → {@code IDENTIFY_SYSTEM} → {@code SHOW wal_segment_size} → {@code SHOW server_version_num}
 * → the physical slot: {@code READ_REPLICATION_SLOT} (PostgreSQL 15+), and when it does not exist
 * {@code CREATE_REPLICATION_SLOT <slot> PHYSICAL RESERVE_WAL} (an "already exists" 42710 is fine: a
 * concurrent creator won) and read again. The parent then gets {@link Identified} and answers with
 * {@link StartStreaming} (which it may also send earlier: it is kept until the handshake is there):
 * {@code START_REPLICATION SLOT <slot> PHYSICAL <X/Y> TIMELINE <tli>}, then {@link Streaming}.
 *
 * <p>Streaming: each XLogData becomes a {@link Wal} event, sent to the parent by the socket
 * reader itself ({@link #walToParentDecoder}). <b>Backpressure</b>: at most
 * {@link Settings#maxUnacknowledged} of them are outstanding; each is acknowledged with
 * {@link Ack} (in order), and while the limit is reached the reader reads nothing more from the
 * socket, so the primary's walsender is held back by TCP. Standby status updates go through the
 * connection's {@link StandbyStatusReporter}, which {@link Streaming} hands to the parent: the
 * parent reports each quorum flush LSN on it and the update goes straight to the socket writer,
 * not through this actor's mailbox ({@link ReportFlushed} does the same through it, e.g. before
 * streaming). This actor answers a keepalive with reply_requested at once and sends one every
 * {@link Settings#statusInterval} regardless. Every status update carries write = flush = apply =
 * the highest flush reported ({@link Lsn#INVALID} before the first report, which the walsender
 * ignores: the slot and synchronous commits only move on a real report).
 *
 * <p>Any failure — ErrorResponse, protocol violation, lost connection, the primary ending the
 * stream, the handshake not done within {@link Settings#handshakeTimeout} — is reported as
 * {@link Failed} and the actor stops; the parent reconnects with a new one. {@link Stop} ends the
 * connection on purpose ({@link Closed}).
 */
public final class PrimaryReplicationClient extends ClientConnection<PrimaryReplicationClient.Command> {

    public sealed interface Command {}

    /**
     * Start streaming from {@code startLsn}, or, with {@link #fromSlot()}, from where the slot says:
     * its restart_lsn (or, when unknown, IDENTIFY_SYSTEM's xlogpos) rounded down to a segment start.
     */
    public record StartStreaming(Lsn startLsn) implements Command {
        public static StartStreaming at(Lsn startLsn) {
            return new StartStreaming(Objects.requireNonNull(startLsn, "startLsn"));
        }

        public static StartStreaming fromSlot() {
            return new StartStreaming(null);
        }
    }

    /** The parent handled the oldest unacknowledged {@link Wal}. */
    public enum Ack implements Command { INSTANCE }

    /**
     * The walkeeper quorum holds the WAL up to {@code lsn}: report it to the primary (write = flush
     * = apply), which releases synchronous commits up to it and advances the slot. Never moves back.
     */
    public record ReportFlushed(Lsn lsn) implements Command {
        public ReportFlushed {
            Objects.requireNonNull(lsn, "lsn");
        }
    }

    /** Close the connection; {@link Closed} follows. */
    public enum Stop implements Command { INSTANCE }

    private record ClientSignal(ClientConnection.Signal signal) implements Command, ClientConnection.Envelope {}

    private enum StatusTick implements Command { INSTANCE }

    /** What the reader delivers for XLogData it already gave the parent as a {@link Wal}. */
    private enum WalReportedToParent { INSTANCE }

    /** What the client tells its parent; each event names the client it comes from. */
    public sealed interface Event {
        ActorRef<Command> client();
    }

    /**
     * The handshake is done; the client waits for {@link StartStreaming}.
     *
     * @param slotRestartLsn the slot's restart_lsn, {@link Lsn#INVALID} when the server cannot tell
     *     (before PostgreSQL 15)
     */
    public record Identified(ActorRef<Command> client, long systemId, int timeline, Lsn xlogPos, int walSegSize,
                             int serverVersionNum, Lsn slotRestartLsn) implements Event {}

    /**
     * START_REPLICATION was accepted; WAL follows from {@code startLsn}.
     *
     * @param status where the parent reports the quorum's flush LSN: straight to this connection's socket
     */
    public record Streaming(ActorRef<Command> client, Lsn startLsn, int timeline, StandbyStatusReporter status)
            implements Event {}

    /** WAL bytes {@code [start, start + bytes.length())}; answer with {@link Ack}. */
    public record Wal(ActorRef<Command> client, Lsn start, ByteSlice bytes) implements Event {
        public Lsn end() {
            return start.plus(bytes.length());
        }

        @Override
        public String toString() {
            return "Wal[start=" + start + ", " + bytes.length() + " bytes]";
        }
    }

    /**
     * The connection failed and the actor stopped.
     *
     * @param sqlState the primary's SQLSTATE when it sent an ErrorResponse, else null
     */
    public record Failed(ActorRef<Command> client, String reason, String sqlState) implements Event {}

    /** The connection was closed after {@link Stop} and the actor stopped. */
    public record Closed(ActorRef<Command> client) implements Event {}

    /**
     * @param password null when the primary trusts the user
     * @param applicationName the standby name the primary sees (pg_stat_replication, synchronous_standby_names)
     * @param slotName a physical slot, created when missing
     * @param maxUnacknowledged {@link Wal} events outstanding before the socket is no longer read
     * @param statusInterval how often a status update is sent without a reason (wal_receiver_status_interval)
     * @param handshakeTimeout connect to CopyBothResponse, including the wait for {@link StartStreaming}
     */
    public record Settings(String user, String password, String applicationName, String slotName,
                           int maxUnacknowledged, Duration statusInterval, Duration handshakeTimeout,
                           Duration closeTimeout) {
        private static final Pattern SLOT_NAME = Pattern.compile("[a-z0-9_]{1,63}");

        public Settings {
            Objects.requireNonNull(user, "user");
            Objects.requireNonNull(applicationName, "applicationName");
            if (!SLOT_NAME.matcher(slotName).matches()) {
                throw new IllegalArgumentException("invalid replication slot name " + slotName
                        + ": lower case letters, digits and underscores, at most 63");
            }
            if (maxUnacknowledged < 1) {
                throw new IllegalArgumentException("maxUnacknowledged " + maxUnacknowledged);
            }
        }

        /** 16 events outstanding, a status update every second, 10 s to start, 2 s to close. */
        public static Settings defaults(String user, String password, String applicationName, String slotName) {
            return new Settings(user, password, applicationName, slotName, 16, Duration.ofSeconds(1),
                    Duration.ofSeconds(10), Duration.ofSeconds(2));
        }

        public Settings withHandshakeTimeout(Duration timeout) {
            return new Settings(user, password, applicationName, slotName, maxUnacknowledged, statusInterval, timeout,
                    closeTimeout);
        }
    }

    /** The StartupMessage of a physical replication client. */
    public static StartupMessage startupMessage(Settings settings) {
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("user", settings.user());
        parameters.put("database", "replication");
        parameters.put("replication", "true");
        parameters.put("application_name", settings.applicationName());
        return new StartupMessage(FrontendMessage.PROTOCOL_3_0, parameters);
    }

    /** {@code START_REPLICATION SLOT <slot> PHYSICAL <X/Y> TIMELINE <tli>}. */
    public static String startReplicationQuery(String slotName, Lsn start, int timeline) {
        return "START_REPLICATION SLOT " + slotName + " PHYSICAL " + start + " TIMELINE " + timeline;
    }

    /** {@code SHOW wal_segment_size}'s answer ("16MB", "1GB", "65536kB") in bytes. */
    public static int parseSegmentSize(String shown) {
        long bytes = PgSize.parse(shown);
        if (bytes <= 0 || bytes > (1L << 30) || Long.bitCount(bytes) != 1) {
            throw new IllegalArgumentException("wal_segment_size " + shown + " is not a power of two up to 1GB");
        }
        return (int) bytes;
    }

    /** Inside CopyBoth, CopyData carries the walsender's messages; other frames stay backend messages. */
    static Object decodeCopyBothFrame(Frame frame) {
        BackendMessage message = BackendCodec.decode(frame);
        return message instanceof CopyData data ? ReplicationCodec.decodeSenderMessage(data.data()) : message;
    }

    public static Behavior<Command> create(Settings settings, ActorRef<Event> parent, SocketFactory sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new PrimaryReplicationClient(ctx, timers, settings, parent, sockets)
                        .start(startupMessage(settings), settings.user(), settings.password())));
    }

    private final Settings settings;
    private final ActorRef<Event> parent;

    /** What the parent asked for before the handshake was done, or null. */
    private StartStreaming pendingStart;
    private Identified identified;
    private boolean streaming;
    private final StandbyStatusReporter status;
    private final CommitTrace trace;
    /**
     * {@link Wal} events not acknowledged yet; each holds its reader marker unconsumed. Below 0
     * when Acks overtook their markers: the reader gives the parent the Wal before this actor
     * sees the marker, so the parent's Ack may come first.
     */
    private int unacknowledged;

    private PrimaryReplicationClient(ActorContext<Command> context, TimerScheduler<Command> timers,
                                     Settings settings, ActorRef<Event> parent, SocketFactory sockets) {
        super(context, timers, ClientSignal::new, sockets, new Profile(settings.applicationName(), "primary",
                "START_REPLICATION", settings.handshakeTimeout(), settings.closeTimeout()));
        this.settings = settings;
        this.parent = parent;
        this.trace = CommitTrace.get(context.getSystem());
        this.status = new StandbyStatusReporter(socketWriter(), trace);
    }

    /** A state: the primary's messages go to {@code handler}; the parent's commands are handled alike in all. */
    @Override
    protected Behavior<Command> state(MessageHandler<Command> handler) {
        return Behaviors.receive(Command.class)
                .onMessage(ClientSignal.class, s -> onSignal(s.signal(), handler))
                .onMessage(StartStreaming.class, this::onStartStreaming)
                .onMessage(ReportFlushed.class, r -> {
                    status.report(r.lsn());
                    return Behaviors.same();
                })
                .onMessageEquals(Ack.INSTANCE, () -> {
                    if (unacknowledged-- > 0) {
                        consumed();
                    } // else its marker is still on the way: it is consumed as it arrives
                    return Behaviors.same();
                })
                .onMessageEquals(StatusTick.INSTANCE, () -> {
                    status.resend();
                    return Behaviors.same();
                })
                .onMessageEquals(Stop.INSTANCE, this::terminate)
                .build();
    }

    @Override
    protected Behavior<Command> ready() {
        return identifySystem();
    }

    // ---- the handshake's commands -----------------------------------------------------------------

    /** A command's rows as text (null for SQL NULL), or the error it ended with. */
    private record Result(String command, List<List<String>> rows, ErrorResponse error) {
        String single(int column) {
            return rows.get(0).get(column);
        }
    }

    private interface ResultHandler {
        Behavior<Command> handle(Result result);
    }

    /** Sends {@code sql} as a simple query and collects its answer up to ReadyForQuery. */
    private Behavior<Command> query(String sql, ResultHandler then) {
        send(new Query(sql));
        List<List<String>> rows = new ArrayList<>();
        ErrorResponse[] error = {null};
        return state(message -> {
            if (message instanceof RowDescription || message instanceof CommandComplete) {
                return Behaviors.same();
            }
            if (message instanceof DataRow row) {
                List<String> values = new ArrayList<>();
                for (byte[] value : row.values()) {
                    values.add(value == null ? null : new String(value, UTF_8));
                }
                rows.add(values);
                return Behaviors.same();
            }
            if (message instanceof ErrorResponse e) {
                error[0] = e;
                return Behaviors.same();
            }
            if (message instanceof ReadyForQuery) {
                return then.handle(new Result(sql, rows, error[0]));
            }
            return unexpected(message, sql);
        });
    }

    /** The result's rows, or a failure when the command failed or returned fewer rows/columns than expected. */
    private Behavior<Command> expectRow(Result result, int columns, ResultHandler then) {
        if (result.error() != null) {
            return fail(result.command() + " failed: " + result.error().message(), result.error().code());
        }
        if (result.rows().size() != 1 || result.rows().get(0).size() < columns) {
            return fail(result.command() + " returned " + result.rows() + ", not one row of " + columns
                    + " columns", null);
        }
        try {
            return then.handle(result);
        } catch (IllegalArgumentException e) { // NumberFormatException included
            return fail(result.command() + " returned " + result.rows() + ": " + e.getMessage(), null);
        }
    }

    private Behavior<Command> identifySystem() {
        return query("IDENTIFY_SYSTEM", identify -> expectRow(identify, 3, id -> {
            long systemId = Long.parseUnsignedLong(id.single(0));
            int timeline = Integer.parseInt(id.single(1));
            Lsn xlogPos = Lsn.parse(id.single(2));
            return query("SHOW wal_segment_size", seg -> expectRow(seg, 1, s -> {
                int walSegSize = parseSegmentSize(s.single(0));
                return query("SHOW server_version_num", ver -> expectRow(ver, 1, v -> {
                    int version = Integer.parseInt(v.single(0).trim());
                    return ensureSlot(version, restartLsn -> identified(new Identified(context.getSelf(),
                            systemId, timeline, xlogPos, walSegSize, version, restartLsn)));
                }));
            }));
        }));
    }

    private interface SlotHandler {
        Behavior<Command> handle(Lsn restartLsn);
    }

    /** Reads the slot (PostgreSQL 15+), creating it when missing; before 15, creates it and cannot read it. */
    private Behavior<Command> ensureSlot(int version, SlotHandler then) {
        String create = "CREATE_REPLICATION_SLOT " + settings.slotName() + " PHYSICAL RESERVE_WAL";
        if (version < 150000) {
            return query(create, created -> afterCreate(created, () -> then.handle(Lsn.INVALID)));
        }
        return readSlot(restartLsn -> restartLsn != null ? then.handle(restartLsn)
                : query(create, created -> afterCreate(created, () -> readSlot(readAgain -> readAgain != null
                        ? then.handle(readAgain)
                        : fail("slot " + settings.slotName() + " is missing right after its creation", null)))));
    }

    /** Continues after CREATE_REPLICATION_SLOT unless it failed for another reason than "already exists". */
    private Behavior<Command> afterCreate(Result created, java.util.function.Supplier<Behavior<Command>> then) {
        if (created.error() != null && !"42710".equals(created.error().code())) {
            return fail(created.command() + " failed: " + created.error().message(), created.error().code());
        }
        return then.get();
    }

    /** READ_REPLICATION_SLOT: the slot's restart_lsn ({@link Lsn#INVALID} when it has none), null when there is no slot. */
    private Behavior<Command> readSlot(SlotHandler then) {
        return query("READ_REPLICATION_SLOT " + settings.slotName(), read -> expectRow(read, 3, r -> {
            String type = r.single(0);
            if (type == null) {
                return then.handle(null);
            }
            if (!"physical".equals(type)) {
                return fail("slot " + settings.slotName() + " is a " + type + " slot, not a physical one", null);
            }
            String restart = r.single(1);
            return then.handle(restart == null ? Lsn.INVALID : Lsn.parse(restart));
        }));
    }

    // ---- identified: waiting for the parent's start position --------------------------------------

    private Behavior<Command> identified(Identified event) {
        identified = event;
        parent.tell(event);
        if (pendingStart != null) {
            return startReplication(pendingStart);
        }
        return state(message -> unexpected(message, "identified"));
    }

    private Behavior<Command> onStartStreaming(StartStreaming start) {
        if (identified == null) {
            pendingStart = start;
            return Behaviors.same();
        }
        if (pendingStart != null || streaming) {
            context.getLog().debug("{}: ignoring a second {}", settings.applicationName(), start);
            return Behaviors.same();
        }
        pendingStart = start;
        return startReplication(start);
    }

    private Behavior<Command> startReplication(StartStreaming start) {
        Lsn startLsn = start.startLsn();
        if (startLsn == null) {
            Lsn base = identified.slotRestartLsn().isValid() ? identified.slotRestartLsn() : identified.xlogPos();
            startLsn = new Lsn(base.value() - base.segmentOffset(identified.walSegSize()));
        }
        Lsn from = startLsn;
        send(new Query(startReplicationQuery(settings.slotName(), from, identified.timeline())));
        return state(message -> {
            if (message instanceof CopyBothResponse) {
                handshakeDone();
                streaming = true;
                status.streamingStarted();
                timers.startTimerAtFixedRate(StatusTick.INSTANCE, settings.statusInterval());
                parent.tell(new Streaming(context.getSelf(), from, identified.timeline(), status));
                switchDecoder(walToParentDecoder(), settings.maxUnacknowledged());
                return streaming();
            }
            if (message instanceof ErrorResponse error) {
                return fail("START_REPLICATION failed: " + error.message(), error.code());
            }
            return unexpected(message, "START_REPLICATION");
        });
    }

    // ---- streaming --------------------------------------------------------------------------------

    /**
     * Runs in the reader: XLogData goes from there to the parent as {@link Wal}, so the WAL reaches
     * the bridge in one hop; this actor gets a marker in its place and keeps it unconsumed until
     * the parent's {@link Ack}, so the reader's window still bounds the unacknowledged WAL.
     * Keepalives, CopyDone and errors stay ours.
     */
    private SocketReader.Decoder walToParentDecoder() {
        ActorRef<Event> to = parent;
        ActorRef<Command> self = context.getSelf();
        CommitTrace trace = this.trace;
        return frame -> {
            Object message = decodeCopyBothFrame(frame);
            if (message instanceof XLogData data) {
                trace.stamp(Stage.BRIDGE_XLOGDATA_READ, data.walStart().value() + data.wal().length());
                to.tell(new Wal(self, data.walStart(), data.wal()));
                return WalReportedToParent.INSTANCE;
            }
            return message;
        };
    }

    private Behavior<Command> streaming() {
        return state(message -> {
            if (message == WalReportedToParent.INSTANCE) {
                if (unacknowledged++ >= 0) {
                    keepUnconsumed();
                } // else acknowledged already
                return Behaviors.same();
            }
            if (message instanceof PrimaryKeepalive keepalive) {
                if (keepalive.replyRequested()) {
                    status.resend();
                }
                return Behaviors.same();
            }
            if (message instanceof CopyDone) {
                return fail("the primary ended the stream (end of its timeline)", null);
            }
            return unexpected(message, "streaming");
        });
    }

    // ---- what the parent is told ------------------------------------------------------------------

    @Override
    protected void reportFailed(String reason, String sqlState) {
        parent.tell(new Failed(context.getSelf(), reason, sqlState));
    }

    @Override
    protected void reportClosed() {
        parent.tell(new Closed(context.getSelf()));
    }
}
