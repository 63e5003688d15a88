package dev.walkeeper.protocol.pg;

import java.util.Arrays;

/**
 * One framed message: its type byte and body (without the type byte and the length word).
 * Startup-phase packets (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) have no type
 * byte; their frames carry {@link #UNTYPED}.
 */
public record Frame(byte type, byte[] body) {
    public static final byte UNTYPED = 0;

    public boolean untyped() {
        return type == UNTYPED;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Frame f && f.type == type && Arrays.equals(f.body, body);
    }

    @Override
    public int hashCode() {
        return 31 * type + Arrays.hashCode(body);
    }

    @Override
    public String toString() {
        return "Frame[" + (untyped() ? "untyped" : "'" + (char) type + "'") + ", " + body.length + " bytes]";
    }
}
