package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * A loopback TCP connection: its server side accepted and attached through
 * {@link TcpSocketFactory} under a parent actor (events to a probe), its client side a plain
 * blocking {@link Socket} the test drives as the peer.
 */
final class SocketPair implements AutoCloseable {
    final Socket peer;
    final ActorRef<SocketReader.Command> reader;
    final ActorRef<SocketWriter.Command> writer;
    final TestProbe<SocketReader.Event> events;
    private final ActorTestKit testKit;
    private final ActorRef<Void> parent;

    private SocketPair(ActorTestKit testKit, Socket peer, ActorRef<Void> parent, SocketFactory.Halves halves,
                       TestProbe<SocketReader.Event> events) {
        this.testKit = testKit;
        this.peer = peer;
        this.parent = parent;
        this.reader = halves.reader();
        this.writer = halves.writer();
        this.events = events;
    }

    /** A server-side pair reading frontend messages (window 1 until switched). */
    static SocketPair open(ActorTestKit testKit) {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            Socket peer = new Socket();
            peer.connect(server.getLocalAddress(), 5000);
            peer.setSoTimeout(10_000);
            SocketChannel accepted = server.accept();
            SocketIo.configure(accepted);
            IncomingSocket incoming = new IncomingSocket(accepted, (InetSocketAddress) accepted.getRemoteAddress());
            TestProbe<SocketReader.Event> events = testKit.createTestProbe(SocketReader.Event.class);
            TestProbe<SocketFactory.Halves> halves = testKit.createTestProbe(SocketFactory.Halves.class);
            SocketFactory factory = new TcpSocketFactory(incoming,
                    () -> FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), FrontendCodec::decode);
            ActorRef<Void> parent = testKit.spawn(Behaviors.setup(ctx -> {
                halves.ref().tell(factory.attach(ctx, events.ref()));
                return Behaviors.empty();
            }));
            return new SocketPair(testKit, peer, parent, halves.receiveMessage(), events);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void send(byte[] bytes) throws IOException {
        peer.getOutputStream().write(bytes);
        peer.getOutputStream().flush();
    }

    /** Reads exactly {@code n} bytes from the peer's side. */
    byte[] receive(int n) throws IOException {
        return peer.getInputStream().readNBytes(n);
    }

    @Override
    public void close() throws IOException {
        testKit.stop(parent);
        peer.close();
    }
}
