package dev.walkeeper.protocol.safekeeper;

import java.util.Objects;

/**
 * One safekeeper of a membership configuration, as Neon's {@code SafekeeperId}: the node id is
 * its identity, host and port only say where to reach it.
 *
 * @param nodeId unsigned 64-bit node id
 * @param pgPort the port of its PostgreSQL-protocol listener, 0 to 65535 (a u16 on the wire)
 */
public record Member(long nodeId, String host, int pgPort) {
    public Member {
        Objects.requireNonNull(host, "host");
        if (pgPort < 0 || pgPort > 0xFFFF) {
            throw new IllegalArgumentException("port " + pgPort + " does not fit a u16");
        }
    }
}
