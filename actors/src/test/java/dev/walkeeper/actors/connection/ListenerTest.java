package dev.walkeeper.actors.connection;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.TcpSocketFactory;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.LoggingTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The listener over real sockets: a connection that throws is stopped alone; the node goes on. */
class ListenerTest {
    private static final ActorTestKit testKit = TestKits.create();

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static final ConnectionSettings SETTINGS = new ConnectionSettings(Duration.ofSeconds(10),
            Duration.ofSeconds(5), FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE, "15.0", 42, 16 << 20,
            AuthPolicy.loopbackTrustOnly());

    @Test
    void connectionsThatReceivePushedWalRunWhereEveryOtherConnectionDoes() {
        ActorRef<TimelineRegistry.Command> timelines = testKit.createTestProbe(TimelineRegistry.Command.class).ref();
        assertEquals(Props.empty(), Listener.tcpConnections(SETTINGS, timelines).props());
        PushReceivers receivers = new PushReceivers(id -> Path.of("unused"), Duration.ofSeconds(30));
        // Their writes and fsyncs run in a child on the blocking dispatcher (PushReceiverWorker).
        assertEquals(Props.empty(), Listener.tcpConnections(SETTINGS, timelines, receivers).props());
    }

    @Test
    void aFailingConnectionIsStoppedAndLoggedWhileOthersAreServed() throws Exception {
        AtomicInteger accepted = new AtomicInteger();
        Listener.ConnectionFactory real = Listener.tcpConnections(SETTINGS,
                testKit.createTestProbe(TimelineRegistry.Command.class).ref());
        Listener.ConnectionFactory firstOneCrashes = (incoming, admission) -> accepted.incrementAndGet() == 1
                ? crashingOnFirstMessage(incoming)
                : real.create(incoming, admission);
        TestProbe<Listener.BindResult> bound = testKit.createTestProbe(Listener.BindResult.class);
        testKit.spawn(Listener.create("127.0.0.1", 0, firstOneCrashes, bound.ref()));
        InetSocketAddress address = assertInstanceOf(Listener.Bound.class, bound.receiveMessage()).address();

        try (Socket doomed = connect(address)) {
            LoggingTestKit.error(IllegalStateException.class)
                    .withMessageContains("injected failure")
                    .expect(testKit.system(), () -> {
                        try {
                            send(doomed, new FrontendMessage.StartupMessage(196608, Map.of("user", "u")));
                        } catch (IOException e) {
                            throw new java.io.UncheckedIOException(e);
                        }
                        return null;
                    });
            assertEquals(-1, doomed.getInputStream().read(), "the failed connection's socket is closed");
        }

        try (Socket healthy = connect(address)) {
            send(healthy, new FrontendMessage.SslRequest());
            assertEquals('N', healthy.getInputStream().read());
            send(healthy, new FrontendMessage.StartupMessage(196608, Map.of("user", "u", "replication", "true")));
            FrameDecoder framer = FrameDecoder.forClient(1 << 20);
            assertInstanceOf(BackendMessage.AuthenticationOk.class, receive(healthy, framer));
            BackendMessage m;
            while (!((m = receive(healthy, framer)) instanceof BackendMessage.ReadyForQuery)) {
                assertTrue(m instanceof BackendMessage.ParameterStatus || m instanceof BackendMessage.BackendKeyData,
                        "unexpected " + m);
            }
        }
    }

    /** Wires the socket like a real connection, then throws on the first message it reads. */
    private static Behavior<Connection.Command> crashingOnFirstMessage(
            dev.walkeeper.actors.socket.IncomingSocket incoming) {
        return Behaviors.<Object>setup(ctx -> {
            new TcpSocketFactory(incoming, () -> FrameDecoder.forServer(1 << 20), FrontendCodec::decode)
                    .attach(ctx, ctx.messageAdapter(SocketReader.Event.class, e -> e));
            return Behaviors.receiveMessage(message -> {
                throw new IllegalStateException("injected failure");
            });
        }).narrow();
    }

    private static Socket connect(InetSocketAddress address) throws IOException {
        Socket socket = new Socket();
        socket.connect(address, 5000);
        socket.setSoTimeout(10_000);
        return socket;
    }

    private static void send(Socket socket, FrontendMessage message) throws IOException {
        socket.getOutputStream().write(FrontendCodec.encode(message));
        socket.getOutputStream().flush();
    }

    private static BackendMessage receive(Socket socket, FrameDecoder framer) throws IOException {
        InputStream in = socket.getInputStream();
        byte[] buffer = new byte[4096];
        Frame frame;
        while ((frame = framer.next()) == null) {
            int n = in.read(buffer);
            if (n < 0) {
                throw new IOException("closed");
            }
            framer.feed(java.util.Arrays.copyOf(buffer, n));
        }
        return BackendCodec.decode(frame);
    }
}
