package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.FrameDecoder;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Tcp;

/**
 * The client-role counterpart of {@link TcpSocketFactory}: opens an outgoing TCP connection
 * ({@code Tcp.outgoingConnection}) and joins it to the same reader and writer children, so a
 * connection actor speaking the frontend side of the protocol (a WAL pusher) gets its socket
 * halves exactly as a server-side connection does.
 *
 * <p>The writer queues what it is told until the connection is up; a connection that cannot be
 * established (refused, unreachable, {@code connectTimeout}) fails the stream, which the reader
 * reports as {@link SocketReader.PeerClosed} with the cause. One factory opens one connection per
 * {@link #attach} call.
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
        ActorRef<SocketReader.Command> reader =
                context.spawn(SocketReader.create(events, framer.get(), decoder, 1), "reader");
        ActorRef<SocketWriter.Command> writer = context.spawn(SocketWriter.create(), "writer");
        // An unresolved address (a host name) is resolved by the TCP layer when connecting.
        var tcp = Tcp.get(context.getSystem()).outgoingConnection(remote, Optional.empty(), List.of(), true,
                Optional.of(connectTimeout), Optional.empty());
        ActorRef<SocketWriter.Outbound> outbound = Flow.fromSinkAndSourceCoupledMat(
                        SocketReader.inboundSink(reader), SocketWriter.outboundSource(writer), Keep.right())
                .join(tcp)
                .run(Materializer.matFromSystem(context.getSystem()));
        writer.tell(new SocketWriter.Attached(outbound));
        return new Halves(reader, writer);
    }
}
