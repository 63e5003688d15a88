package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Builds one CopyData payload of big-endian fields. Unlike the libpq message writer there is no
 * length word: the CopyData frame around the payload already carries it.
 */
final class PayloadWriter {
    private byte[] buffer;
    private int size;

    PayloadWriter(int expectedSize) {
        buffer = new byte[Math.max(16, expectedSize)];
    }

    private void ensure(int n) {
        if (buffer.length - size < n) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, size + n));
        }
    }

    PayloadWriter int8(int v) {
        ensure(1);
        buffer[size++] = (byte) v;
        return this;
    }

    PayloadWriter int16(int v) {
        return int8(v >>> 8).int8(v);
    }

    PayloadWriter int32(int v) {
        return int16(v >>> 16).int16(v);
    }

    PayloadWriter int64(long v) {
        return int32((int) (v >>> 32)).int32((int) v);
    }

    PayloadWriter lsn(Lsn lsn) {
        return int64(lsn.value());
    }

    PayloadWriter bytes(byte[] v) {
        ensure(v.length);
        System.arraycopy(v, 0, buffer, size, v.length);
        size += v.length;
        return this;
    }

    PayloadWriter bytes(ByteSlice v) {
        ensure(v.length());
        v.copyTo(buffer, size);
        size += v.length();
        return this;
    }

    /** A NUL-terminated UTF-8 string; an embedded NUL would end it early and shift every later field. */
    PayloadWriter cstring(String v) {
        if (v.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("string contains a NUL byte: " + v.replace('\0', '?'));
        }
        return bytes(v.getBytes(StandardCharsets.UTF_8)).int8(0);
    }

    /** The payload; the buffer itself when the expected size was exact (no second copy of a large WAL payload). */
    byte[] finish() {
        return size == buffer.length ? buffer : Arrays.copyOf(buffer, size);
    }
}
