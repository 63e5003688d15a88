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

    /** A type byte as error messages show it: {@code 'Q'} when printable ASCII, else {@code 0x1b}. */
    static String describeType(byte type) {
        return type > 0x20 && type < 0x7F ? "'" + (char) type + "'" : String.format("0x%02x", type & 0xFF);
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
