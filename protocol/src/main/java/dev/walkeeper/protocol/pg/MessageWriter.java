package dev.walkeeper.protocol.pg;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Builds one complete wire message in a single growing array, then writes the length word once the
 * body is known — so encoders need neither a size pre-pass nor a second copy per field.
 */
final class MessageWriter {
    private byte[] buffer = new byte[64];
    private int size;
    private final int lengthAt;

    private MessageWriter(int lengthAt) {
        this.lengthAt = lengthAt;
    }

    /** A regular message: type byte, then the length word. */
    static MessageWriter typed(byte type) {
        MessageWriter w = new MessageWriter(1);
        return w.int8(type).int32(0);
    }

    /** A startup-phase packet: the length word first, no type byte. */
    static MessageWriter untyped() {
        return new MessageWriter(0).int32(0);
    }

    private void ensure(int n) {
        if (buffer.length - size < n) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, size + n));
        }
    }

    MessageWriter int8(int v) {
        ensure(1);
        buffer[size++] = (byte) v;
        return this;
    }

    MessageWriter int16(int v) {
        ensure(2);
        buffer[size++] = (byte) (v >>> 8);
        buffer[size++] = (byte) v;
        return this;
    }

    MessageWriter int32(int v) {
        ensure(4);
        buffer[size++] = (byte) (v >>> 24);
        buffer[size++] = (byte) (v >>> 16);
        buffer[size++] = (byte) (v >>> 8);
        buffer[size++] = (byte) v;
        return this;
    }

    MessageWriter bytes(byte[] v) {
        ensure(v.length);
        System.arraycopy(v, 0, buffer, size, v.length);
        size += v.length;
        return this;
    }

    /**
     * A NUL-terminated UTF-8 string. An embedded NUL would end the string early on the reading
     * side and shift every following field, so it is refused here rather than sent.
     */
    MessageWriter cstring(String v) {
        if (v.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("string contains a NUL byte: " + v.replace('\0', '?'));
        }
        return bytes(v.getBytes(StandardCharsets.UTF_8)).int8(0);
    }

    /** The finished message, its length word counting itself and the body (not the type byte). */
    byte[] finish() {
        int length = size - lengthAt;
        buffer[lengthAt] = (byte) (length >>> 24);
        buffer[lengthAt + 1] = (byte) (length >>> 16);
        buffer[lengthAt + 2] = (byte) (length >>> 8);
        buffer[lengthAt + 3] = (byte) length;
        return Arrays.copyOf(buffer, size);
    }
}
