package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
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
import dev.walkeeper.protocol.pg.BackendMessage.EmptyQueryResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
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

    private static final Object STARTUP_TIMER = "startup";
    private static final String SCRAM = "SCRAM-SHA-256";

    public static Behavior<Command> create(ConnectionSettings settings, InetSocketAddress client,
                                           SocketFactory sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
            ActorRef<SocketReader.Event> events = ctx.messageAdapter(SocketReader.Event.class, FromReader::new);
            SocketFactory.Halves halves = sockets.attach(ctx, events);
            timers.startSingleTimer(STARTUP_TIMER, StartupTimedOut.INSTANCE, settings.startupTimeout());
            return new Connection(ctx, timers, settings, client, halves).startup();
        }));
    }

    private final ActorContext<Command> context;
    private final TimerScheduler<Command> timers;
    private final ConnectionSettings settings;
    private final InetSocketAddress client;
    private final ActorRef<SocketReader.Command> reader;
    private final ActorRef<SocketWriter.Command> writer;
    private final SimpleQueries queries;
    private final SecureRandom random = new SecureRandom();
    private Session session;

    /** What the StartupMessage established. */
    private record Session(String user, String database, String applicationName, boolean replication,
                           Map<String, String> options) {}

    private Connection(ActorContext<Command> context, TimerScheduler<Command> timers, ConnectionSettings settings,
                       InetSocketAddress client, SocketFactory.Halves halves) {
        this.context = context;
        this.timers = timers;
        this.settings = settings;
        this.client = client;
        this.reader = halves.reader();
        this.writer = halves.writer();
        this.queries = new SimpleQueries(settings);
    }

    /** Handles one state's inbound messages; reader failures and closes mean the same in every state. */
    private interface MessageHandler {
        Behavior<Command> handle(Object message);
    }

    private Behavior<Command> state(MessageHandler handler) {
        return Behaviors.receive(Command.class)
                .onMessage(FromReader.class, f -> onReaderEvent(f.event(), handler))
                .onMessageEquals(StartupTimedOut.INSTANCE, () -> fatal(SqlState.QUERY_CANCELED,
                        "canceling authentication due to timeout"))
                .build();
    }

    private Behavior<Command> onReaderEvent(SocketReader.Event event, MessageHandler handler) {
        if (event instanceof SocketReader.Received received) {
            reader.tell(SocketReader.Consumed.INSTANCE);
            try {
                return handler.handle(received.message());
            } catch (ProtocolException e) {
                // A field inside a well-framed message was malformed (e.g. a SCRAM message).
                return fatal(e.sqlState(), e.getMessage());
            }
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
