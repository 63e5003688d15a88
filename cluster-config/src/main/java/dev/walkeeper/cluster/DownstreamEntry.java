package dev.walkeeper.cluster;

import dev.walkeeper.actors.timeline.RuntimeDownstreams;
import dev.walkeeper.persistence.CborSerializable;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;

/**
 * A downstream registered at runtime, as the replicated map holds it (keyed by name). It holds
 * no password: the map is gossiped over Artery, which has no authentication, and stored in each
 * node's data directory; the pusher takes the user's password from its own
 * {@code walkeeper.push.passwords}.
 */
record DownstreamEntry(String name, String tenantId, String timelineId, String host, int port, String user)
        implements CborSerializable {

    static DownstreamEntry of(RuntimeDownstreams.Registered d) {
        return new DownstreamEntry(d.name(), d.timeline().tenantId(), d.timeline().timelineId(), d.host(), d.port(),
                d.user());
    }

    TenantTimelineId timeline() {
        return new TenantTimelineId(tenantId, timelineId);
    }

    RuntimeDownstreams.Registered registered() {
        return new RuntimeDownstreams.Registered(name, timeline(), host, port, user);
    }
}
