package dev.walkeeper.actors.socket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.FrameDecoder;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Outgoing connections through {@link OutgoingTcpSocketFactory} and accepting through {@link SocketIo#bind}. */
class SocketIoTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final Duration WAIT = Duration.ofSeconds(10);

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @Test
    void anOutgoingConnectionSendsWhatWasWrittenBeforeItWasUpAndReadsTheServer() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            // A host name, resolved off the loop.
            Outgoing client = connect(InetSocketAddress.createUnresolved("localhost", server.getLocalPort()),
                    Duration.ofSeconds(5));
            client.halves.writer().tell(new SocketWriter.WriteRaw(new byte[] {1, 2, 3}));
            try (Socket accepted = server.accept()) {
                accepted.setSoTimeout(10_000);
                assertArrayEquals(new byte[] {1, 2, 3}, accepted.getInputStream().readNBytes(3));
                accepted.getOutputStream().write(BackendCodec.encode(ReadyForQuery.IDLE));
                Object received = assertInstanceOf(SocketReader.Received.class,
                        client.events.receiveMessage(WAIT)).message();
                assertEquals(ReadyForQuery.IDLE, received);
            }
            client.halves.reader().tell(SocketReader.Consumed.INSTANCE);
            assertInstanceOf(SocketReader.PeerClosed.class, client.events.receiveMessage(WAIT));
        }
    }

    @Test
    void aRefusedConnectionIsReportedAsPeerClosedAndStopsTheWriter() throws IOException {
        int port;
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        Outgoing client = connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), Duration.ofSeconds(5));
        SocketReader.PeerClosed closed = assertInstanceOf(SocketReader.PeerClosed.class,
                client.events.receiveMessage(WAIT));
        assertTrue(closed.reason().startsWith("connection failed"), closed.reason());
        client.events.expectTerminated(client.halves.writer(), WAIT);
    }

    @Test
    void aConnectionThatIsNeverEstablishedTimesOut() throws IOException {
        // A listener whose accept queue is full drops further SYNs, so a connect hangs.
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            List<Socket> queued = new ArrayList<>();
            try {
                for (int i = 0; i < 8; i++) {
                    Socket s = new Socket();
                    try {
                        s.connect(server.getLocalSocketAddress(), 200);
                        queued.add(s);
                    } catch (IOException full) {
                        s.close();
                        break;
                    }
                }
                Outgoing client = connect((InetSocketAddress) server.getLocalSocketAddress(), Duration.ofMillis(300));
                SocketReader.PeerClosed closed = assertInstanceOf(SocketReader.PeerClosed.class,
                        client.events.receiveMessage(WAIT));
                assertTrue(closed.reason().contains("timed out"), closed.reason());
            } finally {
                for (Socket s : queued) {
                    s.close();
                }
            }
        }
    }

    @Test
    void bindAcceptsConnectionsUntilUnbound() throws Exception {
        TestProbe<IncomingSocket> accepted = testKit.createTestProbe(IncomingSocket.class);
        SocketIo.Binding binding = SocketIo.get(testKit.system())
                .bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), accepted.ref()::tell);
        try (Socket client = new Socket()) {
            client.connect(binding.localAddress(), 5000);
            IncomingSocket incoming = accepted.receiveMessage(WAIT);
            assertEquals(client.getLocalPort(), incoming.remoteAddress().getPort());
            incoming.close();
        }
        binding.unbind().toCompletableFuture().get();
        try (Socket late = new Socket()) {
            late.connect(binding.localAddress(), 5000);
            throw new AssertionError("connected after unbind");
        } catch (IOException refused) {
            // Expected: the port is released.
        }
    }

    private record Outgoing(SocketFactory.Halves halves, TestProbe<SocketReader.Event> events) {}

    private static Outgoing connect(InetSocketAddress address, Duration timeout) {
        TestProbe<SocketReader.Event> events = testKit.createTestProbe(SocketReader.Event.class);
        TestProbe<SocketFactory.Halves> halves = testKit.createTestProbe(SocketFactory.Halves.class);
        SocketFactory factory = new OutgoingTcpSocketFactory(address, timeout,
                () -> FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), BackendCodec::decode);
        ActorRef<Void> parent = testKit.spawn(Behaviors.setup(ctx -> {
            halves.ref().tell(factory.attach(ctx, events.ref()));
            return Behaviors.empty();
        }));
        return new Outgoing(halves.receiveMessage(WAIT), events);
    }
}
