package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
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

    private record StatusReceived(Timeline.Status status, Throwable failure) implements Async {}

    private record TimelineStopped() implements Async {}

    /** Unconsumed proposer messages a pushing connection lets its reader decode ahead. */
    private static final int WAL_PUSH_WINDOW = 32;
    private static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);

    private static final Object STARTUP_TIMER = "startup";
    private static final String SCRAM = "SCRAM-SHA-256";

    public static Behavior<Command> create(ConnectionSettings settings, ActorRef<TimelineRegistry.Command> timelines,
                                           InetSocketAddress client, SocketFactory sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            ActorRef<SocketReader.Event> events = ctx.messageAdapter(SocketReader.Event.class, FromReader::new);
            SocketFactory.Halves halves = sockets.attach(ctx, events);
            timers.startSingleTimer(STARTUP_TIMER, StartupTimedOut.INSTANCE, settings.startupTimeout());
            return new Connection(ctx, timers, settings, timelines, client, halves).startup();
        }));
    }

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final ConnectionSettings settings;
    private final ActorRef<TimelineRegistry.Command> timelines;
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
                           Map<String, String> options) {}

    private Connection(ActorContext<Command> context, TimerScheduler<Command> timers, ConnectionSettings settings,
                       ActorRef<TimelineRegistry.Command> timelines, InetSocketAddress client,
                       SocketFactory.Halves halves) {
        this.context = context;
        this.timers = timers;
        this.settings = settings;
        this.timelines = timelines;
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
            queries.identifySystem(Lsn.INVALID, session.replication() ? null : session.database())
                    .forEach(this::write);
        } else if (command instanceof ReplicationCommand.Show show) {
            queries.show(show.parameter()).forEach(this::write);
        } else if (command instanceof ReplicationCommand.TimelineStatus) {
            return timelineStatus();
        } else if (command instanceof ReplicationCommand.StartWalPush push) {
            return startWalPush(push);
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

    /** TIMELINE_STATUS: flush_lsn and commit_lsn of the options' timeline; no row if it does not exist. */
    private Behavior<Command> timelineStatus() {
        TenantTimelineId id = optionsTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE,
                    "TIMELINE_STATUS needs tenant_id and timeline_id in the startup options");
        }
        readerHeld = true;
        context.ask(ActorRef.class, timelines, ASK_TIMEOUT, replyTo -> new TimelineRegistry.Get(id, narrow(replyTo)),
                (timeline, failure) -> new TimelineResolved(failure == null ? narrow(timeline) : null, failure));
        return state(this::unexpectedWhileBusy, answer -> {
            if (answer instanceof TimelineResolved resolved && resolved.failure() == null) {
                context.ask(Timeline.Status.class, resolved.timeline(), ASK_TIMEOUT, Timeline.GetStatus::new,
                        StatusReceived::new);
                return Behaviors.same();
            }
            if (answer instanceof StatusReceived received && received.failure() == null) {
                Timeline.Status status = received.status();
                write(new RowDescription(List.of(
                        RowDescription.Field.text("flush_lsn", RowDescription.Field.TEXT_OID, -1),
                        RowDescription.Field.text("commit_lsn", RowDescription.Field.TEXT_OID, -1))));
                if (status.exists()) {
                    write(DataRow.ofText(status.flushLsn().toString(), status.commitLsn().toString()));
                }
                write(new CommandComplete("TIMELINE_STATUS"));
                write(ReadyForQuery.IDLE);
                releaseReader();
                return authenticated();
            }
            releaseReader();
            queryError(SqlState.INTERNAL_ERROR, "timeline " + id + " did not answer: " + answer);
            return authenticated();
        });
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
