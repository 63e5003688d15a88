package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.FrameDecoder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * The client-role counterpart of {@link TcpSocketFactory}: opens an outgoing TCP connection and
 * joins it to the same reader and writer children, so a connection actor speaking the frontend
 * side of the protocol (a WAL pusher) gets its socket halves exactly as a server-side connection
 * does.
 *
 * <p>The writer queues what it is told until the connection is up; a connection that cannot be
 * established (refused, unreachable, unresolvable, {@code connectTimeout}) is reported by the
 * reader as {@link SocketReader.PeerClosed} with "connection failed: ..." and stops the writer.
 * One factory opens one connection per {@link #attach} call.
 */
public final class OutgoingTcpSocketFactory implements SocketFactory {
    private final InetSocketAddress remote;
    private final Duration connectTimeout;
    private final Supplier<FrameDecoder> framer;
    private final SocketReader.Decoder decoder;

    /**
     * @param framer framing of what the server sends: {@link FrameDecoder#forClient}
     * @param decoder first decoder of the reader (window 1); the connection switches it later
     */
    public OutgoingTcpSocketFactory(InetSocketAddress remote, Duration connectTimeout, Supplier<FrameDecoder> framer,
                                    SocketReader.Decoder decoder) {
        this.remote = remote;
        this.connectTimeout = connectTimeout;
        this.framer = framer;
        this.decoder = decoder;
    }

    public InetSocketAddress remote() {
        return remote;
    }

    @Override
    public <T> Halves attach(ActorContext<T> context, ActorRef<SocketReader.Event> events) {
        SocketIo io = SocketIo.get(context.getSystem());
        SocketChannel channel;
        try {
            channel = SocketChannel.open();
            SocketIo.configure(channel);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("cannot open a socket", e);
        }
        NioSocket socket = new NioSocket(io.loop(), channel, false);
        ActorRef<SocketReader.Command> reader =
                context.spawn(SocketReader.create(events, framer.get(), decoder, 1, socket), "reader");
        ActorRef<SocketWriter.Command> writer = context.spawn(SocketWriter.create(socket), "writer");
        if (remote.isUnresolved()) {
            // A host name: resolved off the loop, whose every socket a slow lookup would stall.
            CompletableFuture.supplyAsync(() -> new InetSocketAddress(remote.getHostString(), remote.getPort()),
                            io.blocking())
                    .thenAccept(resolved -> socket.connect(reader, writer, resolved, io, connectTimeout));
        } else {
            socket.connect(reader, writer, remote, io, connectTimeout);
        }
        return new Halves(reader, writer);
    }
}
