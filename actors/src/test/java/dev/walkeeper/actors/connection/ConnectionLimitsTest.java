package dev.walkeeper.actors.connection;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.PasswordMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.SqlState;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The connection limits over real sockets through a {@link Listener}: what a client over a limit
 * receives, that the others are served meanwhile, and that a freed slot admits a new client.
 */
class ConnectionLimitsTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final Duration AWAIT = Duration.ofSeconds(10);

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static ConnectionSettings settings(AuthPolicy auth, Duration startupTimeout,
                                               ConnectionSettings.Limits limits) {
        return new ConnectionSettings(startupTimeout, Duration.ofSeconds(5), 1 << 20, "15.0", 42, 16 << 20, auth)
                .withLimits(limits);
    }

    private static InetSocketAddress listen(ConnectionSettings settings) {
        TestProbe<Listener.BindResult> bound = testKit.createTestProbe(Listener.BindResult.class);
        testKit.spawn(Listener.create("127.0.0.1", 0, settings.limits(),
                Listener.tcpConnections(settings, testKit.createTestProbe(TimelineRegistry.Command.class).ref()),
                bound.ref()));
        return assertInstanceOf(Listener.Bound.class, bound.receiveMessage()).address();
    }

    private static InetSocketAddress listen(ConnectionSettings.Limits limits) {
        return listen(settings(AuthPolicy.loopbackTrustOnly(), Duration.ofSeconds(30), limits));
    }

    /** A blocking PostgreSQL-protocol client on a real socket. */
    private static final class Client implements AutoCloseable {
        final Socket socket = new Socket();
        private final FrameDecoder framer = FrameDecoder.forClient(1 << 20);

        Client(InetSocketAddress address) throws IOException {
            socket.connect(address, 5000);
            socket.setSoTimeout((int) AWAIT.toMillis());
        }

        void send(FrontendMessage message) throws IOException {
            socket.getOutputStream().write(FrontendCodec.encode(message));
            socket.getOutputStream().flush();
        }

        void startup(String user) throws IOException {
            send(new FrontendMessage.StartupMessage(196608, Map.of("user", user, "replication", "true")));
        }

        BackendMessage receive() throws IOException {
            InputStream in = socket.getInputStream();
            byte[] buffer = new byte[4096];
            Frame frame;
            while ((frame = framer.next()) == null) {
                int n = in.read(buffer);
                if (n < 0) {
                    throw new IOException("closed");
                }
                framer.feed(Arrays.copyOf(buffer, n));
            }
            return BackendCodec.decode(frame);
        }

        /** AuthenticationOk, the parameters, ReadyForQuery. */
        void expectLoggedIn() throws IOException {
            assertInstanceOf(BackendMessage.AuthenticationOk.class, receive());
            BackendMessage m;
            while (!((m = receive()) instanceof BackendMessage.ReadyForQuery)) {
                assertTrue(m instanceof BackendMessage.ParameterStatus || m instanceof BackendMessage.BackendKeyData,
                        "unexpected " + m);
            }
        }

        Client login(String user) throws IOException {
            startup(user);
            expectLoggedIn();
            return this;
        }

        /** Still served: a query is answered. */
        void expectServed() throws IOException {
            send(new Query("SHOW server_version"));
            assertInstanceOf(BackendMessage.RowDescription.class, receive());
            assertInstanceOf(BackendMessage.DataRow.class, receive());
            assertInstanceOf(BackendMessage.CommandComplete.class, receive());
            assertInstanceOf(BackendMessage.ReadyForQuery.class, receive());
        }

        /** A FATAL ErrorResponse with {@code state}, then the server closes the socket. */
        ErrorResponse expectFatal(SqlState state) throws IOException {
            ErrorResponse error = assertInstanceOf(ErrorResponse.class, receive());
            assertEquals("FATAL", error.severity());
            assertEquals(state.code(), error.code(), error.message());
            assertEquals(-1, socket.getInputStream().read(), "closed after the error");
            return error;
        }

        /** Terminate, and wait until the server closed its side. */
        void terminate() throws IOException {
            send(new FrontendMessage.Terminate());
            assertEquals(-1, socket.getInputStream().read());
            socket.close();
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    private static Client connect(InetSocketAddress address) throws IOException {
        return new Client(address);
    }

    @Test
    void aConnectionBeyondMaxConnectionsIsRefusedWith53300AndAFreedSlotAdmitsANewOne() throws Exception {
        InetSocketAddress address = listen(new ConnectionSettings.Limits(2, 0, Duration.ZERO, Duration.ZERO));
        try (Client first = connect(address).login("u"); Client second = connect(address).login("u")) {
            try (Client third = connect(address)) {
                third.startup("u");
                ErrorResponse refused = third.expectFatal(SqlState.TOO_MANY_CONNECTIONS);
                assertEquals("sorry, too many clients already", refused.message());
            }
            first.expectServed();
            second.expectServed();

            second.terminate();
            // The listener hears of the ended connection after the client saw the close: retry
            // until it has (each refused attempt only drains and is not counted).
            testKit.createTestProbe().awaitAssert(AWAIT, Duration.ofMillis(50), () -> {
                try (Client next = connect(address)) {
                    next.login("u");
                    next.expectServed();
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
                return null;
            });
            first.expectServed();
        }
    }

    @Test
    void aUserBeyondMaxConnectionsPerUserIsRefusedWith53300NamingItWhileOtherUsersAreServed() throws Exception {
        InetSocketAddress address = listen(new ConnectionSettings.Limits(0, 1, Duration.ZERO, Duration.ZERO));
        try (Client alice = connect(address).login("alice"); Client bob = connect(address).login("bob")) {
            try (Client alice2 = connect(address)) {
                alice2.startup("alice");
                ErrorResponse refused = alice2.expectFatal(SqlState.TOO_MANY_CONNECTIONS);
                assertEquals("too many connections for role \"alice\"", refused.message());
            }
            alice.expectServed();
            bob.expectServed();

            alice.terminate();
            testKit.createTestProbe().awaitAssert(AWAIT, Duration.ofMillis(50), () -> {
                try (Client again = connect(address)) {
                    again.login("alice");
                    again.expectServed();
                } catch (IOException e) {
                    throw new AssertionError(e);
                }
                return null;
            });
            bob.expectServed();
        }
    }

    @Test
    void aClientThatDoesNotFinishStartupInTimeIsClosedWhileOthersAreServed() throws Exception {
        InetSocketAddress address = listen(settings(AuthPolicy.loopbackTrustOnly(), Duration.ofMillis(300),
                ConnectionSettings.Limits.NONE));
        try (Client silent = connect(address); Client busy = connect(address).login("u")) {
            long start = System.nanoTime();
            ErrorResponse timedOut = silent.expectFatal(SqlState.QUERY_CANCELED);
            assertTrue(System.nanoTime() - start >= Duration.ofMillis(250).toNanos(), "not before the timeout");
            assertEquals("canceling authentication due to timeout", timedOut.message());
            busy.expectServed();
        }
    }

    @Test
    void aFailedPasswordIsAnsweredOnlyAfterTheDelayWhileOthersAreServed() throws Exception {
        Duration delay = Duration.ofMillis(500);
        AuthPolicy auth = new AuthPolicy(Map.of("alice",
                AuthPolicy.User.withPassword("alice", AuthPolicy.Method.PASSWORD, "s3cret")));
        InetSocketAddress address = listen(settings(auth, Duration.ofSeconds(30),
                new ConnectionSettings.Limits(0, 0, delay, Duration.ZERO)));
        try (Client guesser = connect(address); Client honest = connect(address)) {
            guesser.startup("alice");
            assertInstanceOf(BackendMessage.AuthenticationCleartextPassword.class, guesser.receive());
            long sent = System.nanoTime();
            guesser.send(PasswordMessage.cleartext("guess"));

            // The right password is not delayed, and the node serves it while the guess waits.
            honest.startup("alice");
            assertInstanceOf(BackendMessage.AuthenticationCleartextPassword.class, honest.receive());
            honest.send(PasswordMessage.cleartext("s3cret"));
            honest.expectLoggedIn();
            honest.expectServed();
            long honestDone = System.nanoTime();

            ErrorResponse failed = guesser.expectFatal(SqlState.INVALID_PASSWORD);
            long answered = System.nanoTime();
            assertTrue(failed.message().contains("alice"), failed.message());
            assertTrue(answered - sent >= delay.toNanos(), "answered after " + (answered - sent) / 1_000_000 + " ms");
            assertTrue(honestDone < answered, "the other client was served while the guess waited");
        }
    }
}
