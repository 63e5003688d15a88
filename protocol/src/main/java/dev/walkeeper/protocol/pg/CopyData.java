package dev.walkeeper.protocol.pg;

import java.util.Arrays;

/** CopyData ('d'): flows in both directions, so it is both a frontend and a backend message. */
public record CopyData(byte[] data) implements FrontendMessage, BackendMessage {
    @Override
    public boolean equals(Object o) {
        return o instanceof CopyData c && Arrays.equals(c.data, data);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(data);
    }

    @Override
    public String toString() {
        return "CopyData[" + data.length + " bytes]";
    }
}
