package dev.walkeeper.actors.socket;

import dev.walkeeper.protocol.pg.FrameDecoder;
import java.util.function.Supplier;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Tcp;

/**
 * Wires an accepted or outgoing TCP connection to a reader and a writer child: inbound bytes flow
 * into the reader's backpressured sink, the writer feeds the outbound source. The two sides are
 * coupled, so when either ends (the writer closes, the reader stops) the socket closes.
 */
public final class TcpSocketFactory implements SocketFactory {
    private final Tcp.IncomingConnection connection;
    private final Supplier<FrameDecoder> framer;
    private final SocketReader.Decoder decoder;

    public TcpSocketFactory(Tcp.IncomingConnection connection, Supplier<FrameDecoder> framer,
                            SocketReader.Decoder decoder) {
        this.connection = connection;
        this.framer = framer;
        this.decoder = decoder;
    }

    @Override
    public <T> Halves attach(ActorContext<T> context, ActorRef<SocketReader.Event> events) {
        ActorRef<SocketReader.Command> reader =
                context.spawn(SocketReader.create(events, framer.get(), decoder, 1), "reader");
        ActorRef<SocketWriter.Command> writer = context.spawn(SocketWriter.create(), "writer");
        ActorRef<SocketWriter.Outbound> outbound = connection.handleWith(
                Flow.fromSinkAndSourceCoupledMat(SocketReader.inboundSink(reader),
                        SocketWriter.outboundSource(writer), Keep.right()),
                context.getSystem());
        writer.tell(new SocketWriter.Attached(outbound));
        return new Halves(reader, writer);
    }
}
