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
 */
public record ConnectionSettings(Duration startupTimeout, Duration drainTimeout, int maxMessageSize,
                                 String serverVersion, long systemId, int walSegmentSize, AuthPolicy auth,
                                 TenantTimelineId defaultTimeline) {

    /** Without a default timeline. */
    public ConnectionSettings(Duration startupTimeout, Duration drainTimeout, int maxMessageSize, String serverVersion,
                              long systemId, int walSegmentSize, AuthPolicy auth) {
        this(startupTimeout, drainTimeout, maxMessageSize, serverVersion, systemId, walSegmentSize, auth, null);
    }
}
