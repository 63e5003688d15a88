package dev.walkeeper.ops;

import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;

/**
 * A bare PostgreSQL-protocol client over a plain socket, built from the protocol module's codecs:
 * it lets a test see exactly which messages (and SQLSTATEs) the node sends, which psql hides.
 */
final class WireClient implements AutoCloseable {
    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final FrameDecoder framer = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
    private final byte[] buffer = new byte[64 * 1024];

    WireClient(InetSocketAddress address, Duration readTimeout) throws IOException {
        socket = new Socket();
        socket.connect(address, 5000);
        socket.setSoTimeout((int) readTimeout.toMillis());
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    void send(FrontendMessage message) throws IOException {
        out.write(FrontendCodec.encode(message));
        out.flush();
    }

    void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    /** The next backend message, or null when the server closed the connection. */
    BackendMessage receive() throws IOException {
        while (true) {
            Frame frame = framer.next();
            if (frame != null) {
                return BackendCodec.decode(frame);
            }
            int n = in.read(buffer);
            if (n < 0) {
                return null;
            }
            byte[] chunk = new byte[n];
            System.arraycopy(buffer, 0, chunk, 0, n);
            framer.feed(chunk);
        }
    }

    /** Reads one raw byte (the answer to SSLRequest is not a framed message). */
    int receiveByte() throws IOException {
        return in.read();
    }

    /** Reads and discards until the server closes; true if it closed within the read timeout. */
    boolean drainUntilClosed() {
        try {
            while (in.read(buffer) >= 0) {
                // discard
            }
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // reset by the server counts as closed
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
