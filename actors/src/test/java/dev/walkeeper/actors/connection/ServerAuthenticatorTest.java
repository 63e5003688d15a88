package dev.walkeeper.actors.connection;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.ongres.scram.client.ScramClient;
import com.ongres.scram.common.StringPreparation;
import dev.walkeeper.protocol.auth.Md5Authentication;
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
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.SslRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import java.net.InetAddress;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The server's startup and authentication step machine, without actors or sockets. */
class ServerAuthenticatorTest {
    private static final InetAddress LOOPBACK = InetAddress.getLoopbackAddress();

    private static ServerAuthenticator authenticator(AuthPolicy auth, InetAddress client) {
        return new ServerAuthenticator(ConnectionProbe.settings(auth, Duration.ofSeconds(30)), client,
                new SecureRandom());
    }

    private static AuthPolicy user(AuthPolicy.Method method, String name, String password) {
        return new AuthPolicy(Map.of(name, AuthPolicy.User.withPassword(name, method, password)));
    }

    private static StartupMessage startup(String... kv) {
        return new StartupMessage(196608, ConnectionProbe.params(kv));
    }

    private static BackendMessage reply(ServerAuthenticator.Step step) {
        return assertInstanceOf(ServerAuthenticator.Reply.class, step).message();
    }

    private static void assertFailed(SqlState state, ServerAuthenticator.Step step) {
        ServerAuthenticator.Failed failed = assertInstanceOf(ServerAuthenticator.Failed.class, step);
        assertEquals(state, failed.sqlState(), failed.message());
    }

    @Test
    void aTrustedClientIsInAtOnceWithWhatPostgresqlSendsAfterLogin() {
        ServerAuthenticator auth = authenticator(AuthPolicy.loopbackTrustOnly(), LOOPBACK);
        var in = assertInstanceOf(ServerAuthenticator.Authenticated.class, auth.onMessage(
                startup("user", "u", "replication", "database", "application_name", "app",
                        "options", "-c tenant_id=t timeline_id=l")));
        assertEquals(new Session("u", "u", "app", true, true, Map.of("tenant_id", "t", "timeline_id", "l")),
                in.session());
        List<BackendMessage> replies = in.replies();
        assertEquals(new AuthenticationOk(), replies.get(0));
        assertTrue(replies.contains(new ParameterStatus("server_version", "15.0")), replies.toString());
        assertTrue(replies.contains(new ParameterStatus("application_name", "app")), replies.toString());
        assertTrue(replies.contains(new ParameterStatus("session_authorization", "u")), replies.toString());
        assertInstanceOf(BackendKeyData.class, replies.get(replies.size() - 2));
        assertEquals(ReadyForQuery.IDLE, replies.get(replies.size() - 1));
    }

    @Test
    void encryptionIsRefusedAndCancelClosesBeforeTheStartupPacket() {
        ServerAuthenticator auth = authenticator(AuthPolicy.loopbackTrustOnly(), LOOPBACK);
        assertEquals(ServerAuthenticator.RefuseEncryption.INSTANCE, auth.onMessage(new SslRequest()));
        assertEquals(ServerAuthenticator.RefuseEncryption.INSTANCE, auth.onMessage(new GssEncRequest()));
        assertEquals(ServerAuthenticator.Cancel.INSTANCE, auth.onMessage(new CancelRequest(1, 2)));
        assertEquals(new ServerAuthenticator.Unexpected("startup"), auth.onMessage(new Query("SELECT 1")));
    }

    @Test
    void refusalsCarryPostgresqlsSqlStates() throws Exception {
        assertFailed(SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                authenticator(AuthPolicy.loopbackTrustOnly(), LOOPBACK).onMessage(startup("database", "d")));
        assertFailed(SqlState.INVALID_PARAMETER_VALUE,
                authenticator(AuthPolicy.loopbackTrustOnly(), LOOPBACK).onMessage(startup("user", "u",
                        "replication", "maybe")));
        assertFailed(SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                authenticator(AuthPolicy.loopbackTrustOnly(), InetAddress.getByAddress(new byte[] {(byte) 192, 0, 2, 1}))
                        .onMessage(startup("user", "u")));
    }

    @Test
    void aWrongCleartextPasswordFailsWith28P01AndEndsTheExchange() {
        ServerAuthenticator auth = authenticator(user(AuthPolicy.Method.PASSWORD, "alice", "s3cret"), LOOPBACK);
        assertInstanceOf(AuthenticationCleartextPassword.class, reply(auth.onMessage(startup("user", "alice"))));
        assertEquals(new ServerAuthenticator.Unexpected("authentication"), auth.onMessage(new Query("SELECT 1")));
        ServerAuthenticator.Step step = auth.onMessage(PasswordMessage.cleartext("guess"));
        assertFailed(SqlState.INVALID_PASSWORD, step);
        assertTrue(((ServerAuthenticator.Failed) step).message().contains("\"alice\""));
        // No second guess on the same exchange.
        assertEquals(new ServerAuthenticator.Unexpected("authentication"),
                auth.onMessage(PasswordMessage.cleartext("s3cret")));
    }

    @Test
    void md5ChecksTheResponseToItsOwnSalt() {
        ServerAuthenticator auth = authenticator(user(AuthPolicy.Method.MD5, "bob", "hunter2"), LOOPBACK);
        byte[] salt = assertInstanceOf(AuthenticationMd5Password.class, reply(auth.onMessage(startup("user", "bob"))))
                .salt();
        assertInstanceOf(ServerAuthenticator.Authenticated.class,
                auth.onMessage(PasswordMessage.cleartext(Md5Authentication.clientResponse("bob", "hunter2", salt))));
    }

    @Test
    void scramRunsTheWholeExchangeAndSendsTheServerSignatureBeforeAuthenticationOk() throws Exception {
        ServerAuthenticator auth = authenticator(user(AuthPolicy.Method.SCRAM_SHA_256, "alice", "pw"), LOOPBACK);
        assertEquals(List.of("SCRAM-SHA-256"),
                assertInstanceOf(AuthenticationSasl.class, reply(auth.onMessage(startup("user", "alice")))).mechanisms());
        ScramClient scram = ScramClient.builder()
                .advertisedMechanisms(List.of("SCRAM-SHA-256"))
                .username("*")
                .password("pw".toCharArray())
                .stringPreparation(StringPreparation.POSTGRESQL_PREPARATION)
                .build();
        byte[] serverFirst = assertInstanceOf(AuthenticationSaslContinue.class, reply(auth.onMessage(
                PasswordMessage.saslInitial("SCRAM-SHA-256", scram.clientFirstMessage().toString().getBytes(UTF_8)))))
                .data();
        scram.serverFirstMessage(new String(serverFirst, UTF_8));
        var in = assertInstanceOf(ServerAuthenticator.Authenticated.class, auth.onMessage(
                PasswordMessage.sasl(scram.clientFinalMessage().toString().getBytes(UTF_8))));
        AuthenticationSaslFinal serverFinal = assertInstanceOf(AuthenticationSaslFinal.class, in.replies().get(0));
        scram.serverFinalMessage(new String(serverFinal.data(), UTF_8)); // throws unless the signature is right
        assertEquals(new AuthenticationOk(), in.replies().get(1));
    }

    @Test
    void anUnofferedMechanismFailsAndAMalformedScramMessageThrowsItsSqlState() {
        AuthPolicy policy = user(AuthPolicy.Method.SCRAM_SHA_256, "alice", "pw");
        ServerAuthenticator plus = authenticator(policy, LOOPBACK);
        plus.onMessage(startup("user", "alice"));
        assertFailed(SqlState.PROTOCOL_VIOLATION, plus.onMessage(PasswordMessage.saslInitial("SCRAM-SHA-256-PLUS",
                "p=tls-server-end-point,,n=,r=x".getBytes(UTF_8))));

        ServerAuthenticator garbage = authenticator(policy, LOOPBACK);
        garbage.onMessage(startup("user", "alice"));
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> garbage.onMessage(PasswordMessage.saslInitial("SCRAM-SHA-256", "garbage".getBytes(UTF_8))));
        assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState());
    }
}
