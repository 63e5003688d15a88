package dev.walkeeper.actors.connection;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.auth.Md5Authentication;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.FrontendMessage.CancelRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.PasswordMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.SslRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Drives the connection state machine through every transition with probes standing in for the
 * socket's reader and writer: what the connection writes is what a client would receive.
 */
class ConnectionTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final long SYSTEM_ID = 7_234_567_890_123_456_789L;

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static ConnectionSettings settings(AuthPolicy auth, Duration startupTimeout) {
        return new ConnectionSettings(startupTimeout, Duration.ofSeconds(5), 1 << 20, "15.0", SYSTEM_ID,
                16 * 1024 * 1024, auth);
    }

    private static ConnectionSettings settings(AuthPolicy auth) {
        return settings(auth, Duration.ofSeconds(30));
    }

    /** A connection whose socket halves are probes; {@code events} plays the reader's part. */
    private static final class Client extends ConnectionProbe {
        Client(ConnectionSettings settings, String clientIp) throws Exception {
            super(testKit, settings, clientIp);
        }
    }

    private static Map<String, String> params(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    private static Client loggedInTrusted() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.startup(params("user", "u", "database", "replication", "replication", "true"));
        c.expectLoggedIn();
        return c;
    }

    @Test
    void trustedLoopbackClientRunsReplicationCommands() throws Exception {
        Client c = loggedInTrusted();

        c.send(new Query("IDENTIFY_SYSTEM"));
        RowDescription columns = c.next(RowDescription.class);
        assertEquals(List.of("systemid", "timeline", "xlogpos", "dbname"),
                columns.fields().stream().map(RowDescription.Field::name).toList());
        DataRow row = c.next(DataRow.class);
        assertArrayEquals(Long.toUnsignedString(SYSTEM_ID).getBytes(StandardCharsets.UTF_8), row.values().get(0));
        assertArrayEquals("1".getBytes(StandardCharsets.UTF_8), row.values().get(1));
        assertArrayEquals("0/0".getBytes(StandardCharsets.UTF_8), row.values().get(2));
        assertNull(row.values().get(3), "dbname is NULL on a physical replication connection");
        assertEquals(new CommandComplete("IDENTIFY_SYSTEM"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());

        c.send(new Query("SHOW wal_segment_size"));
        c.next(RowDescription.class);
        assertEquals(DataRow.ofText("16MB"), c.next());
        assertEquals(new CommandComplete("SHOW"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());

        c.send(new Query(""));
        c.next(BackendMessage.EmptyQueryResponse.class);
        assertEquals(ReadyForQuery.IDLE, c.next());
    }

    @Test
    void failedCommandsAnswerAnErrorAndTheConnectionGoesOn() throws Exception {
        Client c = loggedInTrusted();
        c.send(new Query("SHOW no_such_parameter"));
        assertTrue(c.expectQueryError(SqlState.UNDEFINED_OBJECT).message().contains("no_such_parameter"));
        c.send(new Query("SELECT 1"));
        c.expectQueryError(SqlState.FEATURE_NOT_SUPPORTED);
        c.send(new Query("START_REPLICATION banana"));
        c.expectQueryError(SqlState.SYNTAX_ERROR);
        c.send(new Query("START_REPLICATION 0/1000000 TIMELINE 1"));
        assertTrue(c.expectQueryError(SqlState.INVALID_PARAMETER_VALUE).message().contains("tenant_id"),
                "without a timeline to serve, START_REPLICATION says how to name one");
        c.send(new Query("TIMELINE_HISTORY 1"));
        assertTrue(c.expectQueryError(SqlState.UNDEFINED_FILE).message().contains("00000001.history"));
        c.send(new Query("SHOW server_version"));
        c.next(RowDescription.class);
        assertEquals(DataRow.ofText("15.0"), c.next());
        assertEquals(new CommandComplete("SHOW"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
    }

    @Test
    void terminateClosesTheConnection() throws Exception {
        Client c = loggedInTrusted();
        c.send(new Terminate());
        c.expectClosed();
    }

    @Test
    void sslRequestIsRefusedAndTheClientContinuesInClearText() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.send(new SslRequest());
        assertArrayEquals(new byte[] {BackendCodec.SSL_REFUSED}, c.writer.expectMessageClass(SocketWriter.WriteRaw.class).bytes());
        c.startup(params("user", "u"));
        c.expectLoggedIn();
    }

    @Test
    void cancelRequestClosesQuietly() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.send(new CancelRequest(1, 2));
        c.expectClosed();
    }

    @Test
    void queryBeforeStartupIsAProtocolViolation() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.send(new Query("IDENTIFY_SYSTEM"));
        c.expectFatal(SqlState.PROTOCOL_VIOLATION);
    }

    @Test
    void queryDuringAuthenticationIsAProtocolViolation() throws Exception {
        Client c = new Client(settings(users(AuthPolicy.User.withPassword("alice", AuthPolicy.Method.PASSWORD, "pw"))),
                "127.0.0.1");
        c.startup(params("user", "alice"));
        c.next(BackendMessage.AuthenticationCleartextPassword.class);
        c.send(new Query("IDENTIFY_SYSTEM"));
        c.expectFatal(SqlState.PROTOCOL_VIOLATION);
    }

    @Test
    void copyDataInTheSimpleQueryStateIsAProtocolViolation() throws Exception {
        Client c = loggedInTrusted();
        c.send(new CopyData(new byte[] {1, 2, 3}));
        c.expectFatal(SqlState.PROTOCOL_VIOLATION);
    }

    @Test
    void secondStartupMessageIsAProtocolViolation() throws Exception {
        Client c = loggedInTrusted();
        c.startup(params("user", "u"));
        c.expectFatal(SqlState.PROTOCOL_VIOLATION);
    }

    @Test
    void malformedInputFromTheReaderEndsTheConnectionWithItsSqlState() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.events.tell(new SocketReader.ReadFailed(new ProtocolException(SqlState.PROGRAM_LIMIT_EXCEEDED, "too big")));
        assertEquals("too big", c.expectFatal(SqlState.PROGRAM_LIMIT_EXCEEDED).message());
    }

    @Test
    void peerCloseStopsTheConnectionInAnyState() throws Exception {
        Client c = loggedInTrusted();
        c.events.tell(new SocketReader.PeerClosed("reset"));
        c.writer.expectTerminated(c.connection);
    }

    @Test
    void startupMessageWithoutUserIsRefused() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.startup(params("database", "x"));
        c.expectFatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION);
    }

    @Test
    void invalidReplicationParameterIsRefused() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.startup(params("user", "u", "replication", "sometimes"));
        c.expectFatal(SqlState.INVALID_PARAMETER_VALUE);
    }

    @Test
    void replicationParameterIsOptionalAsForNeonsCompute() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.startup(params("user", "u", "database", "replication",
                "options", "-c timeline_id=0123456789abcdef0123456789abcdef tenant_id=fedcba9876543210fedcba9876543210"));
        c.expectLoggedIn();
        // The options name a timeline: IDENTIFY_SYSTEM reports that timeline's system id and commit LSN.
        c.events.tell(new SocketReader.Received(new Query("IDENTIFY_SYSTEM")));
        TimelineRegistry.Get get = c.timelines.expectMessageClass(TimelineRegistry.Get.class);
        assertEquals(new dev.walkeeper.protocol.safekeeper.TenantTimelineId("fedcba9876543210fedcba9876543210",
                "0123456789abcdef0123456789abcdef"), get.id());
        TestProbe<dev.walkeeper.actors.timeline.Timeline.Command> timeline =
                testKit.createTestProbe(dev.walkeeper.actors.timeline.Timeline.Command.class);
        get.replyTo().tell(timeline.ref());
        timeline.expectMessageClass(dev.walkeeper.actors.timeline.Timeline.GetStatus.class).replyTo()
                .tell(new dev.walkeeper.actors.timeline.Timeline.Status(true, 3, 3,
                        dev.walkeeper.protocol.Lsn.parse("0/2000000"), dev.walkeeper.protocol.Lsn.parse("0/1FFFF00"),
                        99, 16 << 20, java.nio.file.Path.of("unused")));
        c.next(RowDescription.class);
        DataRow row = c.next(DataRow.class);
        assertEquals(DataRow.ofText("99", "1", "0/1FFFF00", null), row);
        assertEquals(new CommandComplete("IDENTIFY_SYSTEM"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
    }

    @Test
    void withoutUsersNonLoopbackClientsAreRefused() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "192.0.2.10");
        c.startup(params("user", "u"));
        c.expectFatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION);
    }

    private static AuthPolicy users(AuthPolicy.User... users) {
        Map<String, AuthPolicy.User> m = new LinkedHashMap<>();
        for (AuthPolicy.User u : users) {
            m.put(u.name(), u);
        }
        return new AuthPolicy(m);
    }

    @Test
    void cleartextPasswordRightAndWrong() throws Exception {
        AuthPolicy auth = users(AuthPolicy.User.withPassword("alice", AuthPolicy.Method.PASSWORD, "s3cret"));
        Client ok = new Client(settings(auth), "192.0.2.10");
        ok.startup(params("user", "alice"));
        ok.next(BackendMessage.AuthenticationCleartextPassword.class);
        ok.send(PasswordMessage.cleartext("s3cret"));
        ok.expectLoggedIn();

        Client bad = new Client(settings(auth), "192.0.2.10");
        bad.startup(params("user", "alice"));
        bad.next(BackendMessage.AuthenticationCleartextPassword.class);
        bad.send(PasswordMessage.cleartext("guess"));
        assertTrue(bad.expectFatal(SqlState.INVALID_PASSWORD).message().contains("alice"));
    }

    @Test
    void md5PasswordRightAndWrong() throws Exception {
        AuthPolicy auth = users(AuthPolicy.User.withPassword("bob", AuthPolicy.Method.MD5, "hunter2"));
        Client ok = new Client(settings(auth), "127.0.0.1");
        ok.startup(params("user", "bob"));
        byte[] salt = ok.next(BackendMessage.AuthenticationMd5Password.class).salt();
        ok.send(PasswordMessage.cleartext(Md5Authentication.clientResponse("bob", "hunter2", salt)));
        ok.expectLoggedIn();

        Client bad = new Client(settings(auth), "127.0.0.1");
        bad.startup(params("user", "bob"));
        byte[] salt2 = bad.next(BackendMessage.AuthenticationMd5Password.class).salt();
        bad.send(PasswordMessage.cleartext(Md5Authentication.clientResponse("bob", "hunter3", salt2)));
        bad.expectFatal(SqlState.INVALID_PASSWORD);
    }

    @Test
    void scramForAnUnknownUserFailsOnlyAtTheFinalStep() throws Exception {
        AuthPolicy auth = users(AuthPolicy.User.withPassword("alice", AuthPolicy.Method.SCRAM_SHA_256, "pw"));
        Client c = new Client(settings(auth), "127.0.0.1");
        c.startup(params("user", "mallory"));
        assertEquals(List.of("SCRAM-SHA-256"), c.next(BackendMessage.AuthenticationSasl.class).mechanisms());
        c.send(PasswordMessage.saslInitial("SCRAM-SHA-256", "n,,n=,r=clientnonce123".getBytes(StandardCharsets.UTF_8)));
        String serverFirst = new String(c.next(BackendMessage.AuthenticationSaslContinue.class).data(), StandardCharsets.UTF_8);
        String nonce = serverFirst.substring(2, serverFirst.indexOf(','));
        assertTrue(nonce.startsWith("clientnonce123"), serverFirst);
        String proof = java.util.Base64.getEncoder().encodeToString(new byte[32]);
        c.send(PasswordMessage.sasl(("c=biws,r=" + nonce + ",p=" + proof).getBytes(StandardCharsets.UTF_8)));
        c.expectFatal(SqlState.INVALID_PASSWORD);
    }

    @Test
    void saslWithAnUnofferedMechanismIsAProtocolViolation() throws Exception {
        AuthPolicy auth = users(AuthPolicy.User.withPassword("alice", AuthPolicy.Method.SCRAM_SHA_256, "pw"));
        Client c = new Client(settings(auth), "127.0.0.1");
        c.startup(params("user", "alice"));
        c.next(BackendMessage.AuthenticationSasl.class);
        c.send(PasswordMessage.saslInitial("SCRAM-SHA-256-PLUS", "p=tls-server-end-point,,n=,r=x".getBytes(StandardCharsets.UTF_8)));
        c.expectFatal(SqlState.PROTOCOL_VIOLATION);
    }

    @Test
    void malformedScramMessageIsAProtocolViolation() throws Exception {
        AuthPolicy auth = users(AuthPolicy.User.withPassword("alice", AuthPolicy.Method.SCRAM_SHA_256, "pw"));
        Client c = new Client(settings(auth), "127.0.0.1");
        c.startup(params("user", "alice"));
        c.next(BackendMessage.AuthenticationSasl.class);
        c.send(PasswordMessage.saslInitial("SCRAM-SHA-256", "garbage".getBytes(StandardCharsets.UTF_8)));
        c.expectFatal(SqlState.PROTOCOL_VIOLATION);
    }

    @Test
    void slowClientsTimeOutDuringStartup() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly(), Duration.ofMillis(200)), "127.0.0.1");
        c.expectFatal(SqlState.QUERY_CANCELED);
    }

    @Test
    void startupTimeoutDoesNotApplyOnceAuthenticated() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly(), Duration.ofMillis(300)), "127.0.0.1");
        c.startup(params("user", "u"));
        c.expectLoggedIn();
        c.writer.expectNoMessage(Duration.ofMillis(600));
        c.send(new Query("SHOW server_version"));
        c.next(RowDescription.class);
    }

    // ---- WAL push and timeline commands ----------------------------------------------------------

    private static final dev.walkeeper.protocol.safekeeper.TenantTimelineId TIMELINE =
            new dev.walkeeper.protocol.safekeeper.TenantTimelineId("0123456789abcdef0123456789abcdef",
                    "fedcba9876543210fedcba9876543210");

    private static Client pushing() throws Exception {
        Client c = loggedInTrusted();
        startWalPush(c);
        return c;
    }

    /** The decoder switch reaches the reader before the Consumed that lets it decode the next frame. */
    private static void startWalPush(Client c) {
        c.events.tell(new SocketReader.Received(new Query("START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')")));
        SocketReader.SwitchDecoder toProposer = c.reader.expectMessageClass(SocketReader.SwitchDecoder.class);
        assertEquals(1, toProposer.window(), "nothing is decoded ahead until the timeline is known");
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        assertEquals(BackendMessage.CopyBothResponse.REPLICATION, c.next());
    }

    private static dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting greeting() {
        return new dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting(TIMELINE,
                dev.walkeeper.protocol.safekeeper.MembershipConfiguration.EMPTY, 150018, 42, 16 << 20);
    }

    /** The probe standing in for the timeline, and where the connection hears from it. */
    private record Attached(TestProbe<dev.walkeeper.actors.timeline.Timeline.Command> timeline,
                            ActorRef<dev.walkeeper.actors.timeline.Timeline.ProposerReply> replies) {}

    /** Greets through the connection: it resolves the timeline and forwards the greeting to it. */
    private static Attached greet(Client c) {
        c.events.tell(new SocketReader.Received(greeting()));
        TimelineRegistry.Get get = c.timelines.expectMessageClass(TimelineRegistry.Get.class);
        assertEquals(TIMELINE, get.id());
        TestProbe<dev.walkeeper.actors.timeline.Timeline.Command> timeline =
                testKit.createTestProbe(dev.walkeeper.actors.timeline.Timeline.Command.class);
        get.replyTo().tell(timeline.ref());
        dev.walkeeper.actors.timeline.Timeline.FromProposer first =
                timeline.expectMessageClass(dev.walkeeper.actors.timeline.Timeline.FromProposer.class);
        assertEquals(greeting(), first.message());
        assertTrue(first.allowTimelineCreation());
        assertTrue(c.reader.expectMessageClass(SocketReader.SwitchDecoder.class).window() > 1);
        return new Attached(timeline, first.replyTo());
    }

    @Test
    void startWalPushWithProtocolVersion2IsRefusedAndTheSessionGoesOn() throws Exception {
        Client c = loggedInTrusted();
        c.send(new Query("START_WAL_PUSH"));
        assertTrue(c.expectQueryError(SqlState.FEATURE_NOT_SUPPORTED).message().contains("proto_version '3'"));
        c.send(new Query("START_WAL_PUSH (proto_version '2')"));
        c.expectQueryError(SqlState.FEATURE_NOT_SUPPORTED);
    }

    @Test
    void walPushForwardsProposerMessagesAndAcksTheReaderOnlyWhenTheTimelineProcessedThem() throws Exception {
        Client c = pushing();
        Attached attached = greet(c);
        c.reader.expectNoMessage(java.time.Duration.ofMillis(100));
        var reply = new dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting(7,
                dev.walkeeper.protocol.safekeeper.MembershipConfiguration.EMPTY, 3);
        attached.replies().tell(new dev.walkeeper.actors.timeline.Timeline.Reply(reply));
        assertEquals(new CopyData(dev.walkeeper.protocol.safekeeper.AcceptorCodec.encode(reply)), c.next());
        attached.replies().tell(new dev.walkeeper.actors.timeline.Timeline.Processed());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);

        var vote = new dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest(0, 4);
        c.events.tell(new SocketReader.Received(vote));
        assertEquals(vote, attached.timeline()
                .expectMessageClass(dev.walkeeper.actors.timeline.Timeline.FromProposer.class).message());
        c.reader.expectNoMessage(java.time.Duration.ofMillis(100));
        attached.replies().tell(new dev.walkeeper.actors.timeline.Timeline.Processed());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);

        c.events.tell(new SocketReader.Received(new dev.walkeeper.protocol.pg.CopyDone()));
        c.expectClosed();
    }

    @Test
    void aSupersededProposerGetsAnErrorAndIsClosed() throws Exception {
        Client c = pushing();
        c.events.tell(new SocketReader.Received(greeting()));
        TimelineRegistry.Get get = c.timelines.expectMessageClass(TimelineRegistry.Get.class);
        TestProbe<dev.walkeeper.actors.timeline.Timeline.Command> timeline =
                testKit.createTestProbe(dev.walkeeper.actors.timeline.Timeline.Command.class);
        get.replyTo().tell(timeline.ref());
        var first = timeline.expectMessageClass(dev.walkeeper.actors.timeline.Timeline.FromProposer.class);
        first.replyTo().tell(new dev.walkeeper.actors.timeline.Timeline.Superseded(9));
        ErrorResponse error = c.next(ErrorResponse.class);
        assertEquals("XX000", error.code());
        assertTrue(error.message().contains("term 9"), error.message());
        c.expectClosed();
    }

    @Test
    void aRuleViolationEndsThePushWithXX000() throws Exception {
        Client c = pushing();
        c.events.tell(new SocketReader.Received(greeting()));
        TimelineRegistry.Get get = c.timelines.expectMessageClass(TimelineRegistry.Get.class);
        TestProbe<dev.walkeeper.actors.timeline.Timeline.Command> timeline =
                testKit.createTestProbe(dev.walkeeper.actors.timeline.Timeline.Command.class);
        get.replyTo().tell(timeline.ref());
        var first = timeline.expectMessageClass(dev.walkeeper.actors.timeline.Timeline.FromProposer.class);
        first.replyTo().tell(new dev.walkeeper.actors.timeline.Timeline.Failed("AppendRequest creates a gap", false));
        assertEquals("XX000", c.next(ErrorResponse.class).code());
        c.expectClosed();
    }

    // ---- the WAL push idle timeout --------------------------------------------------------------

    private static final Duration IDLE_TIMEOUT = Duration.ofMillis(300);

    /** A pushing connection whose proposer greeted, with the greeting processed: the node owes nothing. */
    private record Greeted(Client client, Attached attached) {}

    private static Greeted greetedWithIdleTimeout() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()).withLimits(
                new ConnectionSettings.Limits(0, 0, Duration.ZERO, IDLE_TIMEOUT)), "127.0.0.1");
        c.startup(params("user", "u", "replication", "true"));
        c.expectLoggedIn();
        startWalPush(c);
        return new Greeted(c, greet(c));
    }

    @Test
    void aSilentProposerIsClosedAfterTheWalPushIdleTimeout() throws Exception {
        Greeted greeted = greetedWithIdleTimeout();
        Client c = greeted.client();
        Attached attached = greeted.attached();
        long start = System.nanoTime();
        attached.replies().tell(new dev.walkeeper.actors.timeline.Timeline.Processed());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        ErrorResponse error = c.next(ErrorResponse.class);
        assertTrue(System.nanoTime() - start >= IDLE_TIMEOUT.toNanos(), "not before the timeout");
        assertEquals(SqlState.IDLE_SESSION_TIMEOUT.code(), error.code(), error.message());
        assertEquals("FATAL", error.severity());
        assertTrue(error.message().contains("wal-push-idle-timeout"), error.message());
        c.expectClosed();
    }

    @Test
    void aProposerSendingMoreOftenThanTheIdleTimeoutStays() throws Exception {
        Greeted greeted = greetedWithIdleTimeout();
        Client c = greeted.client();
        Attached attached = greeted.attached();
        attached.replies().tell(new dev.walkeeper.actors.timeline.Timeline.Processed());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        // Six heartbeat-like messages 100 ms apart: twice the timeout in all, never silent for one.
        for (int i = 0; i < 6; i++) {
            c.writer.expectNoMessage(Duration.ofMillis(100));
            var vote = new dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest(0, 4);
            c.events.tell(new SocketReader.Received(vote));
            attached.timeline().expectMessageClass(dev.walkeeper.actors.timeline.Timeline.FromProposer.class);
            attached.replies().tell(new dev.walkeeper.actors.timeline.Timeline.Processed());
            c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        }
        c.events.tell(new SocketReader.Received(new dev.walkeeper.protocol.pg.CopyDone()));
        c.expectClosed();
    }

    @Test
    void theProposerIsNotSilentWhileTheNodeHasNotProcessedWhatItSent() throws Exception {
        Greeted greeted = greetedWithIdleTimeout();
        Client c = greeted.client();
        Attached attached = greeted.attached();
        // The greeting is not processed yet (a slow timeline): the proposer waits on the node.
        c.writer.expectNoMessage(IDLE_TIMEOUT.multipliedBy(3));
        attached.replies().tell(new dev.walkeeper.actors.timeline.Timeline.Processed());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        assertEquals(SqlState.IDLE_SESSION_TIMEOUT.code(), c.next(ErrorResponse.class).code());
        c.expectClosed();
    }

    @Test
    void aMessageOtherThanAGreetingFirstIsRefused() throws Exception {
        Client c = pushing();
        c.events.tell(new SocketReader.Received(new dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest(0, 1)));
        assertTrue(c.next(ErrorResponse.class).message().contains("instead of greeting"));
        c.expectClosed();
    }

    @Test
    void aGreetingForAnotherTimelineThanTheOptionsNameIsRefused() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.startup(params("user", "u", "options", "-c tenant_id=" + TIMELINE.tenantId()
                + " timeline_id=00000000000000000000000000000001"));
        c.expectLoggedIn();
        startWalPush(c);
        c.events.tell(new SocketReader.Received(greeting()));
        assertEquals("XX000", c.next(ErrorResponse.class).code());
        c.expectClosed();
    }

    @Test
    void timelineStatusAnswersFromTheTimelineOfTheOptions() throws Exception {
        Client c = new Client(settings(AuthPolicy.loopbackTrustOnly()), "127.0.0.1");
        c.startup(params("user", "u", "options", "-c tenant_id=" + TIMELINE.tenantId()
                + " timeline_id=" + TIMELINE.timelineId()));
        c.expectLoggedIn();
        c.events.tell(new SocketReader.Received(new Query("TIMELINE_STATUS")));
        TimelineRegistry.Get get = c.timelines.expectMessageClass(TimelineRegistry.Get.class);
        TestProbe<dev.walkeeper.actors.timeline.Timeline.Command> timeline =
                testKit.createTestProbe(dev.walkeeper.actors.timeline.Timeline.Command.class);
        get.replyTo().tell(timeline.ref());
        c.reader.expectNoMessage(java.time.Duration.ofMillis(100));
        var status = timeline.expectMessageClass(dev.walkeeper.actors.timeline.Timeline.GetStatus.class);
        status.replyTo().tell(new dev.walkeeper.actors.timeline.Timeline.Status(true, 5, 5,
                dev.walkeeper.protocol.Lsn.parse("0/3000000"), dev.walkeeper.protocol.Lsn.parse("0/2FFFF00"), 42,
                16 << 20, java.nio.file.Path.of("unused")));
        // Then the other members' view, from the shared state the registry forwards to.
        TimelineRegistry.AskCluster ask = c.timelines.expectMessageClass(TimelineRegistry.AskCluster.class);
        ClusterTimelines.GetTimeline question = (ClusterTimelines.GetTimeline) ask.query();
        assertEquals(TIMELINE, question.id());
        String self = "pekko://walkeeper@127.0.0.1:2551";
        String other = "pekko://walkeeper@127.0.0.1:2552";
        String gone = "pekko://walkeeper@127.0.0.1:2553";
        question.replyTo().tell(new ClusterTimelines.View(
                List.of(new ClusterTimelines.Member(self, 1, "up", true),
                        new ClusterTimelines.Member(other, 2, "unreachable", false)),
                List.of(position(self, 1, "0/2FFFF00"), pusher(other, 2, "0/2000000"),
                        position(gone, 3, "0/1000000"))));
        RowDescription columns = c.next(RowDescription.class);
        assertEquals(List.of("flush_lsn", "commit_lsn", "term", "last_log_term", "node_id", "member",
                "member_status", "source", "pusher", "downstream_flush_lsns", "consumers"),
                columns.fields().stream().map(RowDescription.Field::name).toList());
        // This node's row is its timeline's own (not what it published; its push columns are),
        // a member's is what it published, and positions of one that is no member any more are left out.
        assertEquals(DataRow.ofText("0/3000000", "0/2FFFF00", "5", "5", "1", self, "up", "local", "f", "", ""),
                c.next());
        assertEquals(DataRow.ofText("0/2000000", "0/1F00000", "5", "5", "2", other, "unreachable", "cluster", "t",
                "127.0.0.1:5455=0/1E00000,127.0.0.1:5456=0/0", CONSUMERS), c.next());
        assertEquals(new CommandComplete("TIMELINE_STATUS"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
    }

    private static ClusterTimelines.MemberPositions position(String member, long nodeId, String flush) {
        return new ClusterTimelines.MemberPositions(TIMELINE, member, nodeId, 5, 5,
                dev.walkeeper.protocol.Lsn.parse(flush), dev.walkeeper.protocol.Lsn.parse("0/1F00000"));
    }

    /** The consumers column of {@link #pusher}'s row. */
    private static final String CONSUMERS = "pull:pg_receivewal 127.0.0.1:6000=0/1F00000,push:127.0.0.1:5455=0/1E00000";

    /** A member that pushes to two downstreams, one of which never reported, and serves one pull client. */
    private static ClusterTimelines.MemberPositions pusher(String member, long nodeId, String flush) {
        return new ClusterTimelines.MemberPositions(TIMELINE, member, nodeId, 5, 5,
                dev.walkeeper.protocol.Lsn.parse(flush), dev.walkeeper.protocol.Lsn.parse("0/1F00000"), true,
                List.of(new ClusterTimelines.DownstreamPosition("127.0.0.1:5455",
                                dev.walkeeper.protocol.Lsn.parse("0/1E00000")),
                        new ClusterTimelines.DownstreamPosition("127.0.0.1:5456", dev.walkeeper.protocol.Lsn.INVALID)),
                "", List.of(new ClusterTimelines.Consumer("pg_receivewal 127.0.0.1:6000", "pull",
                                dev.walkeeper.protocol.Lsn.parse("0/1F00000")),
                        new ClusterTimelines.Consumer("127.0.0.1:5455", "push", dev.walkeeper.protocol.Lsn.parse("0/1E00000"))));
    }

    @Test
    void clusterStatusListsTheMembersThenEveryPublishedPosition() throws Exception {
        Client c = loggedInTrusted();
        c.events.tell(new SocketReader.Received(new Query("CLUSTER_STATUS")));
        TimelineRegistry.AskCluster ask = c.timelines.expectMessageClass(TimelineRegistry.AskCluster.class);
        c.reader.expectNoMessage(Duration.ofMillis(100)); // held until answered
        String self = "pekko://walkeeper@127.0.0.1:2551";
        String other = "pekko://walkeeper@127.0.0.1:2552";
        ask.query().replyTo().tell(new ClusterTimelines.View(
                List.of(new ClusterTimelines.Member(self, 1, "up", true),
                        new ClusterTimelines.Member(other, 2, "leaving", false)),
                List.of(pusher(other, 2, "0/2000000"))));
        RowDescription columns = c.next(RowDescription.class);
        assertEquals(List.of("kind", "member", "node_id", "member_status", "self", "tenant_id", "timeline_id", "term",
                "last_log_term", "flush_lsn", "commit_lsn", "pusher", "downstream_flush_lsns", "consumers"),
                columns.fields().stream().map(RowDescription.Field::name).toList());
        assertEquals(DataRow.ofText("member", self, "1", "up", "t", null, null, null, null, null, null, null, null,
                null), c.next());
        assertEquals(DataRow.ofText("member", other, "2", "leaving", "f", null, null, null, null, null, null, null,
                null, null), c.next());
        assertEquals(DataRow.ofText("timeline", other, "2", "leaving", "f", TIMELINE.tenantId(), TIMELINE.timelineId(),
                "5", "5", "0/2000000", "0/1F00000", "t", "127.0.0.1:5455=0/1E00000,127.0.0.1:5456=0/0", CONSUMERS),
                c.next());
        assertEquals(new CommandComplete("CLUSTER_STATUS"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
    }

    @Test
    void timelineStatusWithoutTimelineOptionsIsAnError() throws Exception {
        Client c = loggedInTrusted();
        c.send(new Query("TIMELINE_STATUS"));
        c.expectQueryError(SqlState.INVALID_PARAMETER_VALUE);
    }
}
