package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.FrameDecoder;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * Wires an accepted TCP connection to a reader and a writer child over one {@link NioSocket},
 * on the loop of the connection's own thread when it runs on an {@link IoLoopExecutor}. When
 * either half stops without a graceful close (its parent stopped), the socket closes.
 */
public final class TcpSocketFactory implements SocketFactory {
    private final IncomingSocket incoming;
    private final Supplier<FrameDecoder> framer;
    private final SocketReader.Decoder decoder;

    public TcpSocketFactory(IncomingSocket incoming, Supplier<FrameDecoder> framer, SocketReader.Decoder decoder) {
        this.incoming = incoming;
        this.framer = framer;
        this.decoder = decoder;
    }

    @Override
    public <T> Halves attach(ActorContext<T> context, ActorRef<SocketReader.Event> events) {
        NioSocket socket = new NioSocket(SocketIo.get(context.getSystem()).loop(), incoming.channel(), true);
        ActorRef<SocketReader.Command> reader =
                context.spawn(SocketReader.create(events, framer.get(), decoder, 1, socket), "reader");
        ActorRef<SocketWriter.Command> writer = context.spawn(SocketWriter.create(socket), "writer");
        socket.start(reader, writer);
        return new Halves(reader, writer);
    }
}
