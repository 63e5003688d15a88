package dev.walkeeper.actors.connection;

import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.util.Map;

/**
 * What a client's StartupMessage established.
 *
 * @param replication        a replication connection ({@code replication=true|database|…})
 * @param logicalReplication {@code replication=database}: IDENTIFY_SYSTEM then names the database
 * @param options            the {@code -c key=value} pairs of the {@code options} parameter
 */
record Session(String user, String database, String applicationName, boolean replication,
               boolean logicalReplication, Map<String, String> options) {

    /** The timeline named by the startup options ({@code -c tenant_id=… timeline_id=…}), or null. */
    TenantTimelineId optionsTimeline() {
        String tenant = options.get("tenant_id");
        String timeline = options.get("timeline_id");
        if (tenant == null || timeline == null) {
            return null;
        }
        try {
            return new TenantTimelineId(tenant, timeline);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException(SqlState.INVALID_PARAMETER_VALUE, e.getMessage());
        }
    }

    /** Peers and proposers recovering WAL read up to the flush LSN, not only what is committed. */
    boolean recoveryClient() {
        return applicationName.startsWith("safekeeper") || applicationName.equals("wal_proposer_recovery");
    }
}
