package dev.walkeeper.actors.connection;

import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.time.Duration;

/**
 * What every inbound connection of a node needs to know.
 *
 * @param startupTimeout   a client must finish startup and authentication within this, so idle or
 *                         slow-loris clients cannot hold connections open
 * @param maxMessageSize   larger messages are a protocol violation, never an allocation
 * @param serverVersion    reported as server_version; PostgreSQL's tools refuse a server newer
 *                         than themselves, so it names the PostgreSQL major we are compatible with
 * @param systemId         PostgreSQL system identifier reported by IDENTIFY_SYSTEM
 * @param walSegmentSize   bytes per WAL segment, reported by SHOW wal_segment_size
 * @param defaultTimeline  the timeline served to clients whose startup options name none (plain
 *                         pg_receivewal, a stock standby); null when there is none
 * @param limits           what one client or user may hold of the node
 */
public record ConnectionSettings(Duration startupTimeout, Duration drainTimeout, int maxMessageSize,
                                 String serverVersion, long systemId, int walSegmentSize, AuthPolicy auth,
                                 TenantTimelineId defaultTimeline, Limits limits) {

    /**
     * Limits on what clients may hold, so that a misbehaving or hostile client cannot exhaust the
     * node; zero turns a limit off.
     *
     * @param maxConnections        connections of the node at once (the listener counts them);
     *                              beyond it a new one gets FATAL 53300 and is closed
     * @param maxConnectionsPerUser authenticated connections of one user at once (53300 too)
     * @param authFailureDelay      a failed authentication is answered only after this, to slow
     *                              password guessing (a timer: no thread waits)
     * @param walPushIdleTimeout    a START_WAL_PUSH connection whose proposer sent nothing for this
     *                              long (while the node owed it nothing) is closed
     */
    public record Limits(int maxConnections, int maxConnectionsPerUser, Duration authFailureDelay,
                         Duration walPushIdleTimeout) {
        /** No limit at all: what embedded nodes and tests get unless they ask. */
        public static final Limits NONE = new Limits(0, 0, Duration.ZERO, Duration.ZERO);

        public Limits {
            if (maxConnections < 0 || maxConnectionsPerUser < 0) {
                throw new IllegalArgumentException("connection limits must not be negative");
            }
            if (authFailureDelay.isNegative() || walPushIdleTimeout.isNegative()) {
                throw new IllegalArgumentException("connection timeouts must not be negative");
            }
        }
    }

    /** Without limits. */
    public ConnectionSettings(Duration startupTimeout, Duration drainTimeout, int maxMessageSize, String serverVersion,
                              long systemId, int walSegmentSize, AuthPolicy auth, TenantTimelineId defaultTimeline) {
        this(startupTimeout, drainTimeout, maxMessageSize, serverVersion, systemId, walSegmentSize, auth,
                defaultTimeline, Limits.NONE);
    }

    /** Without a default timeline or limits. */
    public ConnectionSettings(Duration startupTimeout, Duration drainTimeout, int maxMessageSize, String serverVersion,
                              long systemId, int walSegmentSize, AuthPolicy auth) {
        this(startupTimeout, drainTimeout, maxMessageSize, serverVersion, systemId, walSegmentSize, auth, null);
    }

    /** The same settings with {@code limits}. */
    public ConnectionSettings withLimits(Limits limits) {
        return new ConnectionSettings(startupTimeout, drainTimeout, maxMessageSize, serverVersion, systemId,
                walSegmentSize, auth, defaultTimeline, limits);
    }
}
