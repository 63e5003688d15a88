package dev.walkeeper.actors.client;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.ongres.scram.client.ScramClient;
import com.ongres.scram.common.StringPreparation;
import dev.walkeeper.protocol.auth.Md5Authentication;
import dev.walkeeper.protocol.auth.ScramServerExchange;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationCleartextPassword;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationMd5Password;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSasl;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslContinue;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslFinal;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.PasswordMessage;
import java.util.List;

/**
 * The client side of PostgreSQL authentication as a pure state machine, the authenticating state
 * of every {@link ClientConnection}: fed the server's messages after the StartupMessage, it answers
 * trust, cleartext, md5 and SCRAM-SHA-256 (checking the server's signature) and says when the
 * server accepted us.
 *
 * <p>Not thread-safe; one instance per connection attempt.
 */
public final class ClientAuthenticator {

    /** What to do after one server message. */
    public sealed interface Step {}

    /** Send {@code message}, then feed the server's next message. */
    public record Reply(FrontendMessage message) implements Step {}

    /** Nothing to send; feed the server's next message. */
    public enum Wait implements Step { INSTANCE }

    /** AuthenticationOk (and, with SCRAM, a verified server signature): ParameterStatus … ReadyForQuery follow. */
    public enum Authenticated implements Step { INSTANCE }

    /** Authentication cannot go on; the connection should end with this reason. */
    public record Failed(String reason) implements Step {}

    /** Not an authentication message, or not one expected now: the caller reports it as unexpected. */
    public enum NotAuthentication implements Step { INSTANCE }

    private static final String SCRAM = ScramServerExchange.MECHANISM;

    private final String user;
    private final String password;
    private final String peer;
    private ScramClient scram;
    private boolean scramVerified;

    /**
     * @param password null when the server is expected to trust the user
     * @param peer how failures name the server ("downstream", "primary")
     */
    public ClientAuthenticator(String user, String password, String peer) {
        this.user = user;
        this.password = password;
        this.peer = peer;
    }

    public Step onMessage(Object message) {
        if (message instanceof AuthenticationOk) {
            if (scram != null && !scramVerified) {
                return new Failed("the " + peer + " accepted SCRAM authentication without proving it knows"
                        + " the password");
            }
            return Authenticated.INSTANCE;
        }
        if (scram == null) {
            if (message instanceof AuthenticationCleartextPassword) {
                if (password == null) {
                    return new Failed("the " + peer + " asks for a password, but none is configured");
                }
                return new Reply(PasswordMessage.cleartext(password));
            }
            if (message instanceof AuthenticationMd5Password md5) {
                if (password == null) {
                    return new Failed("the " + peer + " asks for an md5 password, but none is configured");
                }
                return new Reply(PasswordMessage.cleartext(Md5Authentication.clientResponse(user, password,
                        md5.salt())));
            }
            if (message instanceof AuthenticationSasl sasl) {
                return startScram(sasl.mechanisms());
            }
            return NotAuthentication.INSTANCE;
        }
        if (message instanceof AuthenticationSaslContinue serverFirst) {
            try {
                scram.serverFirstMessage(new String(serverFirst.data(), UTF_8));
            } catch (Exception e) {
                return new Failed("invalid SCRAM server-first-message: " + e.getMessage());
            }
            return new Reply(PasswordMessage.sasl(scram.clientFinalMessage().toString().getBytes(UTF_8)));
        }
        if (message instanceof AuthenticationSaslFinal serverFinal) {
            try {
                scram.serverFinalMessage(new String(serverFinal.data(), UTF_8));
            } catch (Exception e) {
                return new Failed("the " + peer + "'s SCRAM server signature is invalid: " + e.getMessage());
            }
            scramVerified = true;
            return Wait.INSTANCE;
        }
        return NotAuthentication.INSTANCE;
    }

    private Step startScram(List<String> mechanisms) {
        if (!mechanisms.contains(SCRAM)) {
            return new Failed("the " + peer + " offers SASL mechanisms " + mechanisms + ", none of which is "
                    + SCRAM);
        }
        if (password == null) {
            return new Failed("the " + peer + " asks for " + SCRAM + ", but no password is configured");
        }
        scram = ScramClient.builder()
                .advertisedMechanisms(List.of(SCRAM))
                .username("*") // ignored by PostgreSQL servers: the startup packet's user counts, as libpq and pgjdbc do
                .password(password.toCharArray())
                .stringPreparation(StringPreparation.POSTGRESQL_PREPARATION)
                .build();
        return new Reply(PasswordMessage.saslInitial(SCRAM, scram.clientFirstMessage().toString().getBytes(UTF_8)));
    }
}
