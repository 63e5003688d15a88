package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.replication.PushReceiverSession;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.persistence.wal.WalReader;
import dev.walkeeper.persistence.wal.WalSegmentRemovedException;
import dev.walkeeper.protocol.replication.ReceiverMessage.HotStandbyFeedback;
import dev.walkeeper.protocol.replication.ReceiverMessage.NeonStatusUpdate;
import dev.walkeeper.protocol.replication.PgTime;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.time.Instant;
import org.apache.pekko.actor.typed.PostStop;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.auth.AuthenticationFailedException;
import dev.walkeeper.protocol.auth.Md5Authentication;
import dev.walkeeper.protocol.auth.ScramServerExchange;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationCleartextPassword;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationMd5Password;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSasl;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslContinue;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslFinal;
import dev.walkeeper.protocol.pg.BackendMessage.BackendKeyData;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.BackendMessage.EmptyQueryResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.CancelRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.GssEncRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.PasswordMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.SaslInitial;
import dev.walkeeper.protocol.pg.FrontendMessage.SslRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.ReplicationCommand;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.pg.StartupOptions;
import dev.walkeeper.protocol.safekeeper.AcceptorCodec;
import dev.walkeeper.protocol.safekeeper.ProposerCodec;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.time.Duration;
import java.net.InetSocketAddress;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * One client connection as an explicit state machine, one method per state:
 * {@link #startup()} → {@link #authenticating} → {@link #authenticated()} (simple-query loop)
 * → {@link #draining()}. The socket's halves are children: the reader delivers decoded messages
 * and waits for {@link SocketReader.Consumed}; the writer sends what this actor tells it. Any
 * message a state does not expect, malformed input, or failed authentication ends in an
 * ErrorResponse with its SQLSTATE, then the connection drains and closes.
 */
public final class Connection {

    public sealed interface Command {}

    private record FromReader(SocketReader.Event event) implements Command {}

    private enum StartupTimedOut implements Command { INSTANCE }

    private enum DrainTimedOut implements Command { INSTANCE }

    /** Answers that arrive while a state waits for another actor. */
    private sealed interface Async extends Command {}

    private record FromTimeline(Timeline.ProposerReply reply) implements Async {}

    private record TimelineResolved(ActorRef<Timeline.Command> timeline, Throwable failure) implements Async {}

    private record StatusReceived(ActorRef<Timeline.Command> timeline, Timeline.Status status, Throwable failure)
            implements Async {}

    private record TimelineStopped() implements Async {}

    private record ConsumersReceived(Timeline.Consumers consumers, Throwable failure) implements Async {}

    private record PusherStatusReceived(PushReplicator.Status status, Throwable failure) implements Async {}

    private record PositionsChanged(Timeline.Positions positions) implements Command {}

    private enum ChunkWritten implements Command { INSTANCE }

    private enum KeepaliveDue implements Command { INSTANCE }

    private enum PushFlushDue implements Command { INSTANCE }

    /** XLogData messages a receiving connection decodes ahead of the fsync that covers them. */
    private static final int PUSH_RECEIVE_WINDOW = 32;

    private static final Object KEEPALIVE_TIMER = "keepalive";
    /** A replication client hears from us at least this often (keepalive with reply requested). */
    private static final Duration KEEPALIVE_INTERVAL = Duration.ofSeconds(1);
    /** XLogData chunks (≤ 128 KiB each) waiting for the socket before the next disk read. */
    private static final int CHUNKS_IN_FLIGHT = 4;
    /** Standby replies decoded ahead: they are small and handled at once. */
    private static final int REPLICATION_WINDOW = 32;

    /** Unconsumed proposer messages a pushing connection lets its reader decode ahead. */
    private static final int WAL_PUSH_WINDOW = 32;
    private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

    private static final Object STARTUP_TIMER = "startup";
    private static final String SCRAM = "SCRAM-SHA-256";

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
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            ActorRef<SocketReader.Event> events = ctx.messageAdapter(SocketReader.Event.class, FromReader::new);
            SocketFactory.Halves halves = sockets.attach(ctx, events);
            timers.startSingleTimer(STARTUP_TIMER, StartupTimedOut.INSTANCE, settings.startupTimeout());
            return new Connection(ctx, timers, settings, timelines, pushReceivers, client, halves).startup();
        }));
    }

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final ConnectionSettings settings;
    private final ActorRef<TimelineRegistry.Command> timelines;
    private final PushReceivers pushReceivers;
    private final InetSocketAddress client;
    private final ActorRef<SocketReader.Command> reader;
    private final ActorRef<SocketWriter.Command> writer;
    private final SimpleQueries queries;
    private final SecureRandom random = new SecureRandom();
    private Session session;
    /** Set by a handler that answers later: the reader gets its Consumed when the answer is out. */
    private boolean readerHeld;

    /** What the StartupMessage established. */
    private record Session(String user, String database, String applicationName, boolean replication,
                           boolean logicalReplication,
                           Map<String, String> options) {}

    private Connection(ActorContext<Command> context, TimerScheduler<Command> timers, ConnectionSettings settings,
                       ActorRef<TimelineRegistry.Command> timelines, PushReceivers pushReceivers,
                       InetSocketAddress client, SocketFactory.Halves halves) {
        this.context = context;
        this.timers = timers;
        this.settings = settings;
        this.timelines = timelines;
        this.pushReceivers = pushReceivers;
        this.client = client;
        this.reader = halves.reader();
        this.writer = halves.writer();
        this.queries = new SimpleQueries(settings);
    }

    /** Handles one state's inbound messages; reader failures and closes mean the same in every state. */
    private interface MessageHandler {
        Behavior<Command> handle(Object message);
    }

    /** Handles the answers a state waits for. */
    private interface AsyncHandler {
        Behavior<Command> handle(Async answer);
    }

    private Behavior<Command> state(MessageHandler handler) {
        return state(handler, answer -> {
            context.getLog().debug("{}: ignoring late {}", client, answer);
            return Behaviors.same();
        });
    }

    private Behavior<Command> state(MessageHandler handler, AsyncHandler asyncHandler) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), handler))
                .onMessage(Async.class, asyncHandler::handle)
                .onMessageEquals(StartupTimedOut.INSTANCE, () -> fatal(SqlState.QUERY_CANCELED,
                        "canceling authentication due to timeout"))
                .build();
    }

    private Behavior<Command> onReaderEvent(SocketReader.Event event, MessageHandler handler) {
        if (event instanceof SocketReader.Received received) {
            readerHeld = false;
            Behavior<Command> next;
            try {
                next = handler.handle(received.message());
            } catch (ProtocolException e) {
                // A field inside a well-framed message was malformed (e.g. a SCRAM message).
                next = fatal(e.sqlState(), e.getMessage());
            }
            if (!readerHeld) {
                reader.tell(SocketReader.Consumed.INSTANCE);
            }
            return next;
        }
        if (event instanceof SocketReader.ReadFailed failed) {
            return fatal(failed.cause().sqlState(), failed.cause().getMessage());
        }
        context.getLog().debug("{}: {}", client, ((SocketReader.PeerClosed) event).reason());
        return Behaviors.stopped();
    }

    // ---- startup ------------------------------------------------------------------------------

    private Behavior<Command> startup() {
        return state(message -> {
            if (message instanceof SslRequest || message instanceof GssEncRequest) {
                writer.tell(new SocketWriter.WriteRaw(new byte[] {BackendCodec.SSL_REFUSED}));
                return Behaviors.same();
            }
            if (message instanceof CancelRequest) {
                // Nothing runs that could be cancelled; PostgreSQL also closes without a reply.
                return drain();
            }
            if (message instanceof StartupMessage startup) {
                return onStartup(startup);
            }
            return unexpected(message, "startup");
        });
    }

    private Behavior<Command> onStartup(StartupMessage startup) {
        Map<String, String> params = startup.parameters();
        String user = params.get("user");
        if (user == null || user.isEmpty()) {
            return fatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                    "no PostgreSQL user name specified in startup packet");
        }
        Boolean replication = parseReplication(params.get("replication"));
        if (replication == null) {
            return fatal(SqlState.INVALID_PARAMETER_VALUE,
                    "invalid value for parameter \"replication\": \"" + params.get("replication") + "\"");
        }
        session = new Session(user, params.getOrDefault("database", user),
                params.getOrDefault("application_name", ""), replication,
                "database".equalsIgnoreCase(params.get("replication")),
                StartupOptions.settings(params.getOrDefault("options", "")));
        AuthPolicy.Decision decision = settings.auth().decide(user, client.getAddress());
        if (decision instanceof AuthPolicy.Refused refused) {
            return fatal(refused.sqlState(), refused.message());
        }
        if (decision instanceof AuthPolicy.Trusted) {
            return loggedIn();
        }
        AuthPolicy.Challenge challenge = (AuthPolicy.Challenge) decision;
        return switch (challenge.method()) {
            case PASSWORD -> {
                writer.tell(new SocketWriter.Write(new AuthenticationCleartextPassword()));
                yield authenticating(message -> onCleartextPassword(challenge.user(), message));
            }
            case MD5 -> {
                byte[] salt = new byte[4];
                random.nextBytes(salt);
                writer.tell(new SocketWriter.Write(new AuthenticationMd5Password(salt)));
                yield authenticating(message -> onMd5Password(challenge.user(), salt, message));
            }
            case SCRAM_SHA_256 -> {
                writer.tell(new SocketWriter.Write(new AuthenticationSasl(List.of(SCRAM))));
                ScramServerExchange exchange = new ScramServerExchange(
                        challenge.user() == null ? null : ((AuthPolicy.Scram) challenge.user().credential()).verifier(),
                        user, random);
                yield authenticating(message -> onSaslInitial(exchange, message));
            }
            case TRUST -> loggedIn();
        };
    }

    /** PostgreSQL's reading of the replication parameter; null when the value is invalid. */
    private static Boolean parseReplication(String value) {
        if (value == null) {
            return false;
        }
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "true", "on", "yes", "1", "database" -> true;
            case "false", "off", "no", "0" -> false;
            default -> null;
        };
    }

    // ---- authenticating -----------------------------------------------------------------------

    private Behavior<Command> authenticating(MessageHandler passwordHandler) {
        return state(message -> message instanceof PasswordMessage
                ? passwordHandler.handle(message)
                : unexpected(message, "authentication"));
    }

    private Behavior<Command> onCleartextPassword(AuthPolicy.User user, Object message) {
        String password = ((PasswordMessage) message).password();
        return user.acceptsCleartext(password) ? loggedIn() : passwordFailed();
    }

    private Behavior<Command> onMd5Password(AuthPolicy.User user, byte[] salt, Object message) {
        String response = ((PasswordMessage) message).password();
        String verifier = ((AuthPolicy.Md5) user.credential()).verifier();
        return Md5Authentication.checkResponse(verifier, salt, response) ? loggedIn() : passwordFailed();
    }

    private Behavior<Command> onSaslInitial(ScramServerExchange exchange, Object message) {
        SaslInitial initial = ((PasswordMessage) message).saslInitial();
        if (!SCRAM.equals(initial.mechanism())) {
            return fatal(SqlState.PROTOCOL_VIOLATION,
                    "client selected an invalid SASL authentication mechanism");
        }
        writer.tell(new SocketWriter.Write(new AuthenticationSaslContinue(exchange.serverFirst(initial.data()))));
        return authenticating(next -> onSaslResponse(exchange, next));
    }

    private Behavior<Command> onSaslResponse(ScramServerExchange exchange, Object message) {
        byte[] serverFinal;
        try {
            serverFinal = exchange.serverFinal(((PasswordMessage) message).body());
        } catch (AuthenticationFailedException e) {
            return passwordFailed();
        }
        writer.tell(new SocketWriter.Write(new AuthenticationSaslFinal(serverFinal)));
        return loggedIn();
    }

    private Behavior<Command> passwordFailed() {
        context.getLog().info("{}: password authentication failed for user \"{}\"", client, session.user());
        return fatal(SqlState.INVALID_PASSWORD, "password authentication failed for user \"" + session.user() + "\"");
    }

    private Behavior<Command> loggedIn() {
        timers.cancel(STARTUP_TIMER);
        write(new AuthenticationOk());
        for (Map.Entry<String, String> p : Map.of(
                "server_version", settings.serverVersion(),
                "server_encoding", "UTF8",
                "client_encoding", "UTF8",
                "DateStyle", "ISO, MDY",
                "integer_datetimes", "on",
                "standard_conforming_strings", "on",
                "TimeZone", "UTC",
                "application_name", session.applicationName(),
                "session_authorization", session.user()).entrySet()) {
            write(new ParameterStatus(p.getKey(), p.getValue()));
        }
        write(new BackendKeyData(random.nextInt(Integer.MAX_VALUE), random.nextInt()));
        write(ReadyForQuery.IDLE);
        context.getLog().debug("{}: user \"{}\" authenticated (replication={}, application_name={})",
                client, session.user(), session.replication(), session.applicationName());
        return authenticated();
    }

    // ---- authenticated: the simple-query loop -------------------------------------------------

    private Behavior<Command> authenticated() {
        return state(message -> {
            if (message instanceof Query query) {
                return onQuery(query.sql());
            }
            if (message instanceof Terminate) {
                return drain();
            }
            return unexpected(message, "simple-query");
        });
    }

    private Behavior<Command> onQuery(String sql) {
        ReplicationCommand command;
        try {
            command = ReplicationCommand.parse(sql);
        } catch (ProtocolException e) {
            return queryError(e.sqlState(), e.getMessage());
        }
        if (command instanceof ReplicationCommand.Empty) {
            write(new EmptyQueryResponse());
        } else if (command instanceof ReplicationCommand.IdentifySystem) {
            return identifySystem();
        } else if (command instanceof ReplicationCommand.StartReplication start) {
            return startReplication(start);
        } else if (command instanceof ReplicationCommand.Show show) {
            queries.show(show.parameter()).forEach(this::write);
        } else if (command instanceof ReplicationCommand.TimelineStatus) {
            return timelineStatus();
        } else if (command instanceof ReplicationCommand.TimelineHistory history) {
            // Every timeline here is PostgreSQL's timeline 1, which has no history file: answer as
            // PostgreSQL's walsender does when the file is missing.
            return queryError(SqlState.UNDEFINED_FILE, "could not open file \"pg_wal/"
                    + String.format("%08X", history.timeline()) + ".history\": No such file or directory");
        } else if (command instanceof ReplicationCommand.TimelineConsumers) {
            return timelineConsumers();
        } else if (command instanceof ReplicationCommand.StartWalPush push) {
            return startWalPush(push);
        } else if (command instanceof ReplicationCommand.StartPushReplication push) {
            return startPushReceiving(push);
        } else {
            return queryError(SqlState.FEATURE_NOT_SUPPORTED,
                    firstWord(sql) + " is not supported by this walkeeper node");
        }
        write(ReadyForQuery.IDLE);
        return Behaviors.same();
    }

    private static String firstWord(String sql) {
        String trimmed = sql.strip();
        int end = 0;
        while (end < trimmed.length() && !Character.isWhitespace(trimmed.charAt(end)) && trimmed.charAt(end) != '(') {
            end++;
        }
        return trimmed.substring(0, end).toUpperCase(Locale.ROOT);
    }

    /** An ERROR that ends the command but not the connection. */
    private Behavior<Command> queryError(SqlState state, String message) {
        write(ErrorResponse.error(state, message));
        write(ReadyForQuery.IDLE);
        return Behaviors.same();
    }

    /** The timeline named by the startup options ({@code -c tenant_id=… timeline_id=…}), or null. */
    private TenantTimelineId optionsTimeline() {
        String tenant = session.options().get("tenant_id");
        String timeline = session.options().get("timeline_id");
        if (tenant == null || timeline == null) {
            return null;
        }
        try {
            return new TenantTimelineId(tenant, timeline);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException(SqlState.INVALID_PARAMETER_VALUE, e.getMessage());
        }
    }

    /** The timeline this session serves: the startup options', else the node's default (or null). */
    private TenantTimelineId servedTimeline() {
        TenantTimelineId fromOptions = optionsTimeline();
        return fromOptions != null ? fromOptions : settings.defaultTimeline();
    }

    /** What to do with a timeline once its status is known. */
    private interface StatusHandler {
        Behavior<Command> handle(ActorRef<Timeline.Command> timeline, Timeline.Status status);
    }

    /**
     * Asks the registry for the timeline and the timeline for its status, holding the reader
     * meanwhile (so replies keep the order of the queries), then hands both to {@code then}.
     */
    private Behavior<Command> withTimelineStatus(TenantTimelineId id, StatusHandler then) {
        readerHeld = true;
        context.ask(ActorRef.class, timelines, ASK_TIMEOUT, replyTo -> new TimelineRegistry.Get(id, narrow(replyTo)),
                (timeline, failure) -> new TimelineResolved(failure == null ? narrow(timeline) : null, failure));
        return state(this::unexpectedWhileBusy, answer -> {
            if (answer instanceof TimelineResolved resolved && resolved.failure() == null) {
                context.ask(Timeline.Status.class, resolved.timeline(), ASK_TIMEOUT, Timeline.GetStatus::new,
                        (status, failure) -> new StatusReceived(resolved.timeline(), status, failure));
                return Behaviors.same();
            }
            if (answer instanceof StatusReceived received && received.failure() == null) {
                return then.handle(received.timeline(), received.status());
            }
            queryError(SqlState.INTERNAL_ERROR, "timeline " + id + " did not answer: " + answer);
            releaseReader();
            return authenticated();
        });
    }

    /** Ends a command answered asynchronously: ReadyForQuery, and the reader may go on. */
    private Behavior<Command> commandDone() {
        write(ReadyForQuery.IDLE);
        releaseReader();
        return authenticated();
    }

    /** TIMELINE_STATUS: flush_lsn and commit_lsn of the options' timeline; no row if it does not exist. */
    private Behavior<Command> timelineStatus() {
        TenantTimelineId id = optionsTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE,
                    "TIMELINE_STATUS needs tenant_id and timeline_id in the startup options");
        }
        return withTimelineStatus(id, (timeline, status) -> {
            write(new RowDescription(List.of(
                    RowDescription.Field.text("flush_lsn", RowDescription.Field.TEXT_OID, -1),
                    RowDescription.Field.text("commit_lsn", RowDescription.Field.TEXT_OID, -1))));
            if (status.exists()) {
                write(DataRow.ofText(status.flushLsn().toString(), status.commitLsn().toString()));
            }
            write(new CommandComplete("TIMELINE_STATUS"));
            return commandDone();
        });
    }

    /**
     * TIMELINE_CONSUMERS: one row per consumer of the served timeline — kind (pull/push), name,
     * address, the LSN sent to it, its reported flush and apply LSNs, and its lag in bytes behind
     * the commit LSN.
     */
    private Behavior<Command> timelineConsumers() {
        TenantTimelineId id = servedTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE,
                    "TIMELINE_CONSUMERS needs tenant_id and timeline_id in the startup options");
        }
        return withTimelineStatus(id, (timeline, status) -> {
            context.ask(Timeline.Consumers.class, timeline, ASK_TIMEOUT, Timeline.GetConsumers::new,
                    ConsumersReceived::new);
            return state(this::unexpectedWhileBusy, answer -> {
                if (answer instanceof ConsumersReceived received && received.failure() == null) {
                    return withPusherStatuses(received.consumers(), received.consumers().pushers(), new ArrayList<>());
                }
                queryError(SqlState.INTERNAL_ERROR, "timeline " + id + " did not answer: " + answer);
                releaseReader();
                return authenticated();
            });
        });
    }

    /** Asks each push replicator in turn, then answers TIMELINE_CONSUMERS with pull and push rows. */
    private Behavior<Command> withPusherStatuses(Timeline.Consumers consumers,
                                                 List<ActorRef<PushReplicator.Command>> remaining,
                                                 List<PushReplicator.Status> statuses) {
        if (remaining.isEmpty()) {
            queries.consumers(consumers, statuses).forEach(this::write);
            return commandDone();
        }
        context.ask(PushReplicator.Status.class, remaining.get(0), ASK_TIMEOUT, PushReplicator.GetStatus::new,
                PusherStatusReceived::new);
        return state(this::unexpectedWhileBusy, answer -> {
            if (answer instanceof PusherStatusReceived received && received.failure() == null) {
                statuses.add(received.status());
            }
            return withPusherStatuses(consumers, remaining.subList(1, remaining.size()), statuses);
        });
    }

    /**
     * IDENTIFY_SYSTEM: the served timeline's system id and the LSN it may be streamed up to —
     * commit LSN for ordinary clients, flush LSN for peers and proposer recovery (as Neon).
     * Without a timeline, the configured system id and 0/0.
     */
    private Behavior<Command> identifySystem() {
        // As PostgreSQL: a database name only on a logical (replication=database) connection.
        String dbname = session.logicalReplication() ? session.database() : null;
        TenantTimelineId id = servedTimeline();
        if (id == null) {
            queries.identifySystem(settings.systemId(), Lsn.INVALID, dbname).forEach(this::write);
            write(ReadyForQuery.IDLE);
            return Behaviors.same();
        }
        return withTimelineStatus(id, (timeline, status) -> {
            if (status.exists()) {
                queries.identifySystem(status.systemId(), recoveryClient() ? status.flushLsn() : status.commitLsn(),
                        dbname).forEach(this::write);
            } else {
                queries.identifySystem(settings.systemId(), Lsn.INVALID, dbname).forEach(this::write);
            }
            return commandDone();
        });
    }

    /** Peers and proposers recovering WAL read up to the flush LSN, not only what is committed. */
    private boolean recoveryClient() {
        String app = session.applicationName();
        return app.startsWith("safekeeper") || app.equals("wal_proposer_recovery");
    }

    @SuppressWarnings("unchecked")
    private static <T> ActorRef<T> narrow(ActorRef<?> ref) {
        return (ActorRef<T>) ref;
    }

    private void releaseReader() {
        reader.tell(SocketReader.Consumed.INSTANCE);
    }

    /** While a command is answered the reader is held, so nothing else can arrive. */
    private Behavior<Command> unexpectedWhileBusy(Object message) {
        return unexpected(message, "busy");
    }

    // ---- replicating: serving WAL to pg_receivewal, a standby, a peer ---------------------------

    /**
     * START_REPLICATION [SLOT s] [PHYSICAL] X/Y [TIMELINE n] [(term='N')]: checks the request as
     * PostgreSQL's walsender does, then streams from X/Y.
     */
    private Behavior<Command> startReplication(ReplicationCommand.StartReplication start) {
        TenantTimelineId id = servedTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE, "START_REPLICATION needs tenant_id and timeline_id in"
                    + " the startup options, or a node with walkeeper.default-timeline");
        }
        return withTimelineStatus(id, (timeline, status) -> {
            Integer tli = start.timeline();
            if (!status.exists() || (tli != null && tli != 1)) {
                write(ErrorResponse.error(SqlState.UNDEFINED_FILE, "requested starting point " + start.start()
                        + " on timeline " + (tli == null ? 1 : tli) + " is not in this server's history"));
                return commandDone();
            }
            Lsn servable = start.term() == null ? status.commitLsn() : status.flushLsn();
            if (start.start().compareTo(status.flushLsn()) > 0) {
                write(ErrorResponse.error(SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE, "requested starting point "
                        + start.start() + " is ahead of the WAL flush position of this server " + status.flushLsn()));
                return commandDone();
            }
            if (start.term() != null && start.term() != status.lastLogTerm()) {
                write(ErrorResponse.error(SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE, "requested term " + start.term()
                        + " is not this node's last log term " + status.lastLogTerm()));
                return commandDone();
            }
            WalReader wal = new WalReader(status.walDirectory(), status.walSegSize());
            try {
                Lsn oldest = wal.oldestAvailable();
                if (!oldest.isValid() || start.start().compareTo(oldest) < 0) {
                    closeQuietly(wal);
                    write(ErrorResponse.error(SqlState.UNDEFINED_FILE, "requested WAL segment "
                            + XLogFileName.of(1, start.start().segmentNumber(status.walSegSize()), status.walSegSize())
                            + " has already been removed"));
                    return commandDone();
                }
            } catch (IOException e) {
                closeQuietly(wal);
                write(ErrorResponse.error(SqlState.INTERNAL_ERROR, "cannot read WAL: " + e.getMessage()));
                return commandDone();
            }
            write(CopyBothResponse.REPLICATION);
            reader.tell(new SocketReader.SwitchDecoder(Connection::decodeReceiverFrame, REPLICATION_WINDOW));
            releaseReader();
            ActorRef<Timeline.Positions> positions = context.messageAdapter(Timeline.Positions.class,
                    PositionsChanged::new);
            timeline.tell(new Timeline.WatchPositions(positions));
            timers.startTimerWithFixedDelay(KEEPALIVE_TIMER, KeepaliveDue.INSTANCE, KEEPALIVE_INTERVAL);
            WalSender sender = new WalSender(wal, start.start(), servable, start.term() != null,
                    context.messageAdapter(SocketWriter.Written.class, w -> ChunkWritten.INSTANCE), timeline);
            sender.report();
            return replicating(sender);
        });
    }

    /** CopyData payloads become standby replies; other frames stay frontend messages. */
    private static Object decodeReceiverFrame(Frame frame) {
        FrontendMessage message = FrontendCodec.decode(frame);
        return message instanceof CopyData data ? ReplicationCodec.decodeReceiverMessage(data.data()) : message;
    }

    /**
     * The sending half of a replication stream: reads the next chunk from disk only when fewer
     * than {@link #CHUNKS_IN_FLIGHT} are waiting for the socket, so a slow client slows disk reads
     * instead of filling memory.
     */
    private final class WalSender {
        private final WalReader wal;
        private final boolean toFlush;
        private final ActorRef<SocketWriter.Written> written;
        private final ActorRef<Timeline.Command> timeline;
        private final String name = context.getSelf().path().name();
        private Lsn sent;
        private Lsn servable;
        private int inFlight;
        private boolean sentSinceKeepalive;
        private Lsn standbyFlush = Lsn.INVALID;
        private Lsn standbyApply = Lsn.INVALID;

        WalSender(WalReader wal, Lsn start, Lsn servable, boolean toFlush, ActorRef<SocketWriter.Written> written,
                  ActorRef<Timeline.Command> timeline) {
            this.wal = wal;
            this.timeline = timeline;
            this.sent = start;
            this.servable = servable;
            this.toFlush = toFlush;
            this.written = written;
        }

        void positions(Timeline.Positions positions) {
            servable = Lsn.max(servable, toFlush ? positions.flushLsn() : positions.commitLsn());
        }

        void pump() throws IOException {
            while (inFlight < CHUNKS_IN_FLIGHT && sent.compareTo(servable) < 0) {
                byte[] chunk = wal.read(sent, servable);
                write(new CopyData(ReplicationCodec.encode(
                        new XLogData(sent, servable, PgTime.fromInstant(Instant.now()), chunk))));
                writer.tell(new SocketWriter.NotifyWhenWritten(sent.value(), written));
                sent = sent.plus(chunk.length);
                inFlight++;
                sentSinceKeepalive = true;
            }
        }

        void keepalive() {
            if (!sentSinceKeepalive) {
                write(new CopyData(ReplicationCodec.encode(
                        new PrimaryKeepalive(servable, PgTime.fromInstant(Instant.now()), true))));
            }
            sentSinceKeepalive = false;
        }

        /** Tells the timeline how far this client got (TIMELINE_CONSUMERS shows it). */
        void report() {
            String app = session.applicationName().isEmpty() ? "" : session.applicationName() + " ";
            timeline.tell(new Timeline.ConsumerReport(new Timeline.WalConsumer(name, "pull",
                    app + client.getAddress().getHostAddress() + ":" + client.getPort(), sent, standbyFlush,
                    standbyApply)));
        }

        void close() {
            timeline.tell(new Timeline.ConsumerGone(name));
            closeQuietly(wal);
        }
    }

    private Behavior<Command> replicating(WalSender sender) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), message -> onStandbyMessage(sender, message)))
                .onMessage(PositionsChanged.class, p -> {
                    sender.positions(p.positions());
                    return pumpOrFail(sender);
                })
                .onMessageEquals(ChunkWritten.INSTANCE, () -> {
                    sender.inFlight--;
                    return pumpOrFail(sender);
                })
                .onMessageEquals(KeepaliveDue.INSTANCE, () -> {
                    sender.keepalive();
                    return Behaviors.same();
                })
                .onMessage(Async.class, a -> Behaviors.same())
                .onSignal(PostStop.class, stop -> {
                    sender.close();
                    return Behaviors.same();
                })
                .build();
    }

    private Behavior<Command> pumpOrFail(WalSender sender) {
        try {
            sender.pump();
            return Behaviors.same();
        } catch (WalSegmentRemovedException e) {
            return endReplication(sender, SqlState.UNDEFINED_FILE, e.getMessage());
        } catch (IOException e) {
            return endReplication(sender, SqlState.INTERNAL_ERROR, "cannot read WAL: " + e.getMessage());
        }
    }

    private Behavior<Command> onStandbyMessage(WalSender sender, Object message) {
        if (message instanceof StandbyStatusUpdate status) {
            sender.standbyFlush = status.flushLsn();
            sender.standbyApply = status.applyLsn();
            sender.report();
            if (status.replyRequested()) {
                sender.sentSinceKeepalive = false;
                sender.keepalive();
            }
            return Behaviors.same();
        }
        if (message instanceof HotStandbyFeedback || message instanceof NeonStatusUpdate) {
            return Behaviors.same();
        }
        if (message instanceof CopyDone) {
            // The client ends streaming: answer as the walsender does and return to the query loop.
            timers.cancel(KEEPALIVE_TIMER);
            sender.close();
            write(new CopyDone());
            write(new CommandComplete("START_STREAMING"));
            write(ReadyForQuery.IDLE);
            reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 1));
            return authenticated();
        }
        if (message instanceof Terminate) {
            sender.close();
            return drain();
        }
        return unexpected(message, "replication");
    }

    private Behavior<Command> endReplication(WalSender sender, SqlState state, String message) {
        timers.cancel(KEEPALIVE_TIMER);
        sender.close();
        context.getLog().info("{}: ending replication: {}", client, message);
        write(ErrorResponse.error(state, message));
        return drain();
    }

    private static void closeQuietly(WalReader wal) {
        try {
            wal.close();
        } catch (IOException ignored) {
            // nothing was written through it
        }
    }

    // ---- pushReceiving: a pusher streams committed WAL to this (downstream) node --------------

    /** START_PUSH_REPLICATION: the pusher dialled us; it sends XLogData, we report what we flushed. */
    private Behavior<Command> startPushReceiving(ReplicationCommand.StartPushReplication push) {
        if (pushReceivers == null) {
            return queryError(SqlState.FEATURE_NOT_SUPPORTED, "START_PUSH_REPLICATION is accepted by nodes run with"
                    + " `walkeeper receive` (walkeeper.receive.enabled = true)");
        }
        PushReceiverSession.Opening opening = PushReceiverSession.open(push, optionsTimeline(),
                session.applicationName() + " " + client, pushReceivers);
        opening.replies().forEach(this::write);
        if (opening instanceof PushReceiverSession.Refused) {
            return Behaviors.same();
        }
        PushReceiverSession receiving = ((PushReceiverSession.Started) opening).session();
        reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, PUSH_RECEIVE_WINDOW));
        return pushReceiving(receiving);
    }

    /**
     * Writes each XLogData as it arrives; one fsync (and one standby status update) covers all
     * that arrived meanwhile — the same FlushDue trick as the timeline's group commit.
     */
    private Behavior<Command> pushReceiving(PushReceiverSession receiving) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), message -> {
                    boolean flushWasPending = receiving.flushPending();
                    Behavior<Command> next = afterPushStep(receiving, receiving.receive(message));
                    // The first write since the last flush queues one; it runs after the messages
                    // the mailbox already holds.
                    if (!flushWasPending && receiving.flushPending()) {
                        context.getSelf().tell(PushFlushDue.INSTANCE);
                    }
                    return next;
                }))
                .onMessageEquals(PushFlushDue.INSTANCE, () -> afterPushStep(receiving, receiving.flush()))
                .onMessage(Async.class, a -> Behaviors.same())
                .onSignal(PostStop.class, stop -> {
                    receiving.close();
                    return Behaviors.same();
                })
                .build();
    }

    private Behavior<Command> afterPushStep(PushReceiverSession receiving, PushReceiverSession.Step step) {
        step.replies().forEach(this::write);
        switch (step.next()) {
            case QUERY -> {
                receiving.close();
                reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 1));
                return authenticated();
            }
            case CLOSE -> {
                receiving.close();
                return drain();
            }
            default -> {
                return Behaviors.same();
            }
        }
    }

    // ---- walPushing: the proposer/acceptor protocol inside CopyBoth ----------------------------

    /**
     * START_WAL_PUSH: CopyBoth at once (as Neon's safekeeper), then every CopyData carries one
     * proposer message; the reader decodes them from here on.
     */
    private Behavior<Command> startWalPush(ReplicationCommand.StartWalPush push) {
        if (push.protoVersion() != 3) {
            return queryError(SqlState.FEATURE_NOT_SUPPORTED, "START_WAL_PUSH protocol version "
                    + push.protoVersion() + " is not supported: this node speaks proto_version '3'");
        }
        write(CopyBothResponse.REPLICATION);
        reader.tell(new SocketReader.SwitchDecoder(Connection::decodeProposerFrame, 1));
        return awaitingGreeting(push.allowTimelineCreation());
    }

    /** CopyData payloads become proposer messages; other frames stay frontend messages. */
    private static Object decodeProposerFrame(Frame frame) {
        FrontendMessage message = FrontendCodec.decode(frame);
        return message instanceof CopyData data ? ProposerCodec.decode(data.data()) : message;
    }

    private Behavior<Command> awaitingGreeting(boolean allowTimelineCreation) {
        return state(message -> {
            if (message instanceof ProposerMessage.ProposerGreeting greeting) {
                TenantTimelineId fromOptions = optionsTimeline();
                if (fromOptions != null && !fromOptions.equals(greeting.id())) {
                    return copyError("greeting names timeline " + greeting.id()
                            + " but the startup options name " + fromOptions);
                }
                readerHeld = true;
                context.ask(ActorRef.class, timelines, ASK_TIMEOUT,
                        replyTo -> new TimelineRegistry.Get(greeting.id(), narrow(replyTo)),
                        (timeline, failure) -> new TimelineResolved(failure == null ? narrow(timeline) : null, failure));
                return resolvingTimeline(greeting, allowTimelineCreation);
            }
            if (message instanceof ProposerMessage) {
                return copyError("unexpected " + message.getClass().getSimpleName() + " instead of greeting");
            }
            return endOfCopy(message);
        });
    }

    private Behavior<Command> resolvingTimeline(ProposerMessage.ProposerGreeting greeting, boolean allowCreation) {
        return state(this::unexpectedWhileBusy, answer -> {
            if (answer instanceof TimelineResolved resolved && resolved.failure() == null) {
                ActorRef<Timeline.Command> timeline = resolved.timeline();
                context.watchWith(timeline, new TimelineStopped());
                ActorRef<Timeline.ProposerReply> replies = context.messageAdapter(Timeline.ProposerReply.class,
                        FromTimeline::new);
                timeline.tell(new Timeline.FromProposer(greeting, allowCreation, context.getSelf(), replies));
                reader.tell(new SocketReader.SwitchDecoder(Connection::decodeProposerFrame, WAL_PUSH_WINDOW));
                return walPushing(timeline, allowCreation, replies);
            }
            return copyError("timeline " + greeting.id() + " is not available: " + answer);
        });
    }

    private Behavior<Command> walPushing(ActorRef<Timeline.Command> timeline, boolean allowCreation,
                                         ActorRef<Timeline.ProposerReply> replies) {
        return state(message -> {
            if (message instanceof ProposerMessage proposerMessage) {
                // Consumed is sent when the timeline has processed it: a slow disk stops the socket.
                readerHeld = true;
                timeline.tell(new Timeline.FromProposer(proposerMessage, allowCreation, context.getSelf(), replies));
                return Behaviors.same();
            }
            return endOfCopy(message);
        }, answer -> {
            if (answer instanceof FromTimeline from) {
                Timeline.ProposerReply reply = from.reply();
                if (reply instanceof Timeline.Reply r) {
                    write(new CopyData(AcceptorCodec.encode(r.message())));
                    return Behaviors.same();
                }
                if (reply instanceof Timeline.Processed) {
                    releaseReader();
                    return Behaviors.same();
                }
                if (reply instanceof Timeline.Failed failed) {
                    return failed.silent() ? drain() : copyError(failed.reason());
                }
                return copyError("a proposer was elected in term " + ((Timeline.Superseded) reply).term()
                        + "; this connection's proposer is superseded");
            }
            if (answer instanceof TimelineStopped) {
                return copyError("the timeline stopped; reconnect");
            }
            return Behaviors.same();
        });
    }

    /** CopyDone or Terminate end a push; anything else inside CopyBoth is a protocol violation. */
    private Behavior<Command> endOfCopy(Object message) {
        if (message instanceof CopyDone || message instanceof Terminate) {
            return drain();
        }
        return unexpected(message, "CopyBoth");
    }

    /**
     * A consensus error inside CopyBoth: an ERROR with SQLSTATE XX000 ends the stream, and the
     * connection closes; the proposer reconnects (as with Neon's safekeeper).
     */
    private Behavior<Command> copyError(String message) {
        context.getLog().info("{}: ending WAL push: {}", client, message);
        write(ErrorResponse.error(SqlState.INTERNAL_ERROR, message));
        return drain();
    }

    // ---- draining -----------------------------------------------------------------------------

    /** The connection is ending: flush what was written, close, and stop when the socket is gone. */
    private Behavior<Command> drain() {
        writer.tell(new SocketWriter.Close());
        timers.cancel(STARTUP_TIMER);
        timers.startSingleTimer(DrainTimedOut.INSTANCE, settings.drainTimeout());
        return draining();
    }

    private Behavior<Command> draining() {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> {
                    if (f.event() instanceof SocketReader.PeerClosed) {
                        return Behaviors.stopped();
                    }
                    if (f.event() instanceof SocketReader.Received) {
                        reader.tell(SocketReader.Consumed.INSTANCE);
                    }
                    return Behaviors.same();
                })
                .onMessageEquals(DrainTimedOut.INSTANCE, Behaviors::stopped)
                .onMessageEquals(StartupTimedOut.INSTANCE, Behaviors::same)
                .build();
    }

    // ---- helpers ------------------------------------------------------------------------------

    private void write(BackendMessage message) {
        writer.tell(new SocketWriter.Write(message));
    }

    private Behavior<Command> unexpected(Object message, String stateName) {
        return fatal(SqlState.PROTOCOL_VIOLATION,
                "unexpected message " + messageName(message) + " in the " + stateName + " state");
    }

    private static String messageName(Object message) {
        return message instanceof FrontendMessage ? message.getClass().getSimpleName() : String.valueOf(message);
    }

    private Behavior<Command> fatal(SqlState state, String message) {
        context.getLog().info("{}: closing: {} ({})", client, message, state.code());
        write(ErrorResponse.fatal(state, message));
        return drain();
    }
}
