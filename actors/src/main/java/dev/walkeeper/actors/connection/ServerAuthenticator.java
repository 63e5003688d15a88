package dev.walkeeper.actors.connection;

import dev.walkeeper.protocol.auth.AuthenticationFailedException;
import dev.walkeeper.protocol.auth.Md5Authentication;
import dev.walkeeper.protocol.auth.ScramServerExchange;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationCleartextPassword;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationMd5Password;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSasl;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslContinue;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslFinal;
import dev.walkeeper.protocol.pg.BackendMessage.BackendKeyData;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.FrontendMessage.CancelRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.GssEncRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.PasswordMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.SaslInitial;
import dev.walkeeper.protocol.pg.FrontendMessage.SslRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.pg.StartupOptions;
import java.net.InetAddress;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The server side of PostgreSQL's startup and authentication as a pure step machine, the startup
 * state of every {@link Connection}: fed the client's messages from the first packet on, it
 * refuses encryption, reads the StartupMessage, asks the {@link AuthPolicy} and runs the exchange
 * it names (trust, cleartext, md5, SCRAM-SHA-256), and says what to send and when the client is in.
 * A malformed field inside a message (e.g. a SCRAM message) throws
 * {@link dev.walkeeper.protocol.pg.ProtocolException} with its SQLSTATE.
 *
 * <p>Not thread-safe; one instance per connection.
 */
final class ServerAuthenticator {

    /** What to do after one client message. */
    sealed interface Step {}

    /** Send {@code message}, then feed the client's next message. */
    record Reply(BackendMessage message) implements Step {}

    /** SSLRequest or GSSENCRequest: answer the single byte {@code N} (no TLS) and wait for the startup packet. */
    enum RefuseEncryption implements Step { INSTANCE }

    /** CancelRequest: nothing runs here that could be cancelled; close without a reply, as PostgreSQL does. */
    enum Cancel implements Step { INSTANCE }

    /** The client is in: send {@code replies} (AuthenticationOk … ReadyForQuery), then serve queries. */
    record Authenticated(Session session, List<BackendMessage> replies) implements Step {}

    /** FATAL with this SQLSTATE, then close. */
    record Failed(SqlState sqlState, String message) implements Step {}

    /** A message the current state does not expect: a protocol violation in the named state. */
    record Unexpected(String stateName) implements Step {}

    private static final String SCRAM = ScramServerExchange.MECHANISM;

    /** The rest of an exchange, fed each PasswordMessage. */
    private interface Exchange {
        Step onPassword(PasswordMessage message);
    }

    private final ConnectionSettings settings;
    private final InetAddress client;
    private final SecureRandom random;
    private Session session;
    /** Set while a password exchange runs; null before the startup packet and once it is over. */
    private Exchange exchange;

    ServerAuthenticator(ConnectionSettings settings, InetAddress client, SecureRandom random) {
        this.settings = settings;
        this.client = client;
        this.random = random;
    }

    Step onMessage(Object message) {
        if (session == null) {
            return onStartupPacket(message);
        }
        if (exchange == null || !(message instanceof PasswordMessage password)) {
            return new Unexpected("authentication");
        }
        return exchange.onPassword(password);
    }

    private Step onStartupPacket(Object message) {
        if (message instanceof SslRequest || message instanceof GssEncRequest) {
            return RefuseEncryption.INSTANCE;
        }
        if (message instanceof CancelRequest) {
            return Cancel.INSTANCE;
        }
        if (!(message instanceof StartupMessage startup)) {
            return new Unexpected("startup");
        }
        Map<String, String> params = startup.parameters();
        String user = params.get("user");
        if (user == null || user.isEmpty()) {
            return new Failed(SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                    "no PostgreSQL user name specified in startup packet");
        }
        Boolean replication = parseReplication(params.get("replication"));
        if (replication == null) {
            return new Failed(SqlState.INVALID_PARAMETER_VALUE,
                    "invalid value for parameter \"replication\": \"" + params.get("replication") + "\"");
        }
        session = new Session(user, params.getOrDefault("database", user),
                params.getOrDefault("application_name", ""), replication,
                "database".equalsIgnoreCase(params.get("replication")),
                StartupOptions.settings(params.getOrDefault("options", "")));
        AuthPolicy.Decision decision = settings.auth().decide(user, client);
        if (decision instanceof AuthPolicy.Refused refused) {
            return new Failed(refused.sqlState(), refused.message());
        }
        if (decision instanceof AuthPolicy.Trusted) {
            return loggedIn(List.of());
        }
        AuthPolicy.Challenge challenge = (AuthPolicy.Challenge) decision;
        AuthPolicy.User known = challenge.user();
        return switch (challenge.method()) {
            case PASSWORD -> {
                exchange = p -> known.acceptsCleartext(p.password()) ? loggedIn(List.of()) : passwordFailed();
                yield new Reply(new AuthenticationCleartextPassword());
            }
            case MD5 -> {
                byte[] salt = new byte[4];
                random.nextBytes(salt);
                String verifier = ((AuthPolicy.Md5) known.credential()).verifier();
                exchange = p -> Md5Authentication.checkResponse(verifier, salt, p.password())
                        ? loggedIn(List.of()) : passwordFailed();
                yield new Reply(new AuthenticationMd5Password(salt));
            }
            case SCRAM_SHA_256 -> {
                // An unknown user (known == null) runs the whole exchange and fails at its end.
                ScramServerExchange scram = new ScramServerExchange(
                        known == null ? null : ((AuthPolicy.Scram) known.credential()).verifier(), user, random);
                exchange = p -> onSaslInitial(scram, p);
                yield new Reply(new AuthenticationSasl(List.of(SCRAM)));
            }
            case TRUST -> loggedIn(List.of());
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

    private Step onSaslInitial(ScramServerExchange scram, PasswordMessage message) {
        SaslInitial initial = message.saslInitial();
        if (!SCRAM.equals(initial.mechanism())) {
            return new Failed(SqlState.PROTOCOL_VIOLATION, "client selected an invalid SASL authentication mechanism");
        }
        exchange = p -> onSaslResponse(scram, p);
        return new Reply(new AuthenticationSaslContinue(scram.serverFirst(initial.data())));
    }

    private Step onSaslResponse(ScramServerExchange scram, PasswordMessage message) {
        byte[] serverFinal;
        try {
            serverFinal = scram.serverFinal(message.body());
        } catch (AuthenticationFailedException e) {
            return passwordFailed();
        }
        return loggedIn(List.of(new AuthenticationSaslFinal(serverFinal)));
    }

    private Step passwordFailed() {
        exchange = null;
        return new Failed(SqlState.INVALID_PASSWORD, "password authentication failed for user \"" + session.user() + "\"");
    }

    /** {@code first} (SASLFinal after SCRAM), then what PostgreSQL sends a client it let in. */
    private Step loggedIn(List<BackendMessage> first) {
        exchange = null;
        List<BackendMessage> replies = new ArrayList<>(first);
        replies.add(new AuthenticationOk());
        List<Map.Entry<String, String>> parameters = List.of(
                Map.entry("server_version", settings.serverVersion()),
                Map.entry("server_encoding", "UTF8"),
                Map.entry("client_encoding", "UTF8"),
                Map.entry("DateStyle", "ISO, MDY"),
                Map.entry("integer_datetimes", "on"),
                Map.entry("standard_conforming_strings", "on"),
                Map.entry("TimeZone", "UTC"),
                Map.entry("application_name", session.applicationName()),
                Map.entry("session_authorization", session.user()));
        for (Map.Entry<String, String> p : parameters) {
            replies.add(new ParameterStatus(p.getKey(), p.getValue()));
        }
        replies.add(new BackendKeyData(random.nextInt(Integer.MAX_VALUE), random.nextInt()));
        replies.add(ReadyForQuery.IDLE);
        return new Authenticated(session, replies);
    }
}
