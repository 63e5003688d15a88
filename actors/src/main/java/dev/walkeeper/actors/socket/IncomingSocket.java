package dev.walkeeper.actors.socket;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;

/** A socket accepted by a {@link SocketIo.Binding}, not yet owned by a connection ({@link TcpSocketFactory}). */
public final class IncomingSocket {
    private final SocketChannel channel;
    private final InetSocketAddress remoteAddress;

    IncomingSocket(SocketChannel channel, InetSocketAddress remoteAddress) {
        this.channel = channel;
        this.remoteAddress = remoteAddress;
    }

    public InetSocketAddress remoteAddress() {
        return remoteAddress;
    }

    SocketChannel channel() {
        return channel;
    }

    /** Drops a socket no connection will take. */
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Dropped either way.
        }
    }
}
