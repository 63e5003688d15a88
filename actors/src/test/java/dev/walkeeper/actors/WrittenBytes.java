package dev.walkeeper.actors;

import dev.walkeeper.actors.socket.SocketWriter;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;

/** What a socket writer probe received as bytes to send unframed: a WriteRaw's or a WriteParts' bytes. */
public final class WrittenBytes {
    private WrittenBytes() {}

    /** The bytes {@code command} asks to send as they are, or {@code null} for any other command. */
    public static byte[] of(SocketWriter.Command command) {
        if (command instanceof SocketWriter.WriteRaw raw) {
            return raw.bytes();
        }
        if (command instanceof SocketWriter.WriteParts parts) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (ByteBuffer part : parts.parts()) {
                ByteBuffer view = part.duplicate(); // as the writer reads it: the sender's buffer stays as it is
                byte[] bytes = new byte[view.remaining()];
                view.get(bytes);
                out.writeBytes(bytes);
            }
            return out.toByteArray();
        }
        return null;
    }
}
