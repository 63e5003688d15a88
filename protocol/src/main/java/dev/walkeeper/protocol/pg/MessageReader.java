package dev.walkeeper.protocol.pg;

import dev.walkeeper.protocol.ByteSlice;
import java.nio.charset.StandardCharsets;

/**
 * Reads big-endian fields from a message body. Every read is bounds-checked and fails with a
 * {@link ProtocolException} naming the message, so a truncated or lying message can never cause
 * anything but that exception.
 */
public final class MessageReader {
    private final byte[] body;
    private final String what;
    private int position;

    public MessageReader(byte[] body, String what) {
        this.body = body;
        this.what = what;
    }

    public int remaining() {
        return body.length - position;
    }

    public int position() {
        return position;
    }

    private void need(int n) {
        if (n < 0 || n > remaining()) {
            throw new ProtocolException(what + ": truncated message (need " + n + " bytes at offset "
                    + position + ", have " + remaining() + ")");
        }
    }

    public byte int8() {
        need(1);
        return body[position++];
    }

    public short int16() {
        need(2);
        short v = (short) (((body[position] & 0xFF) << 8) | (body[position + 1] & 0xFF));
        position += 2;
        return v;
    }

    public int int32() {
        need(4);
        int v = ((body[position] & 0xFF) << 24) | ((body[position + 1] & 0xFF) << 16)
                | ((body[position + 2] & 0xFF) << 8) | (body[position + 3] & 0xFF);
        position += 4;
        return v;
    }

    public long int64() {
        long high = int32() & 0xFFFFFFFFL;
        long low = int32() & 0xFFFFFFFFL;
        return (high << 32) | low;
    }

    public byte[] bytes(int n) {
        need(n);
        byte[] out = new byte[n];
        System.arraycopy(body, position, out, 0, n);
        position += n;
        return out;
    }

    public byte[] rest() {
        return bytes(remaining());
    }

    /** The next {@code n} bytes as a view of the body, not copied (a WAL payload on its way to a file). */
    public ByteSlice slice(int n) {
        need(n);
        ByteSlice slice = ByteSlice.of(body, position, n);
        position += n;
        return slice;
    }

    /** Every byte left, as {@link #slice}. */
    public ByteSlice restSlice() {
        return slice(remaining());
    }

    /** A NUL-terminated UTF-8 string. */
    public String cstring() {
        for (int i = position; i < body.length; i++) {
            if (body[i] == 0) {
                String s = new String(body, position, i - position, StandardCharsets.UTF_8);
                position = i + 1;
                return s;
            }
        }
        throw new ProtocolException(what + ": string at offset " + position + " is not NUL-terminated");
    }

    public void expectEnd() {
        if (remaining() != 0) {
            throw new ProtocolException(what + ": " + remaining() + " unexpected trailing bytes");
        }
    }
}
