package dev.walkeeper.cluster;

import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.persistence.CborSerializable;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One member's positions of one timeline, as it publishes them in the replicated map: only the
 * member itself writes its entries, so last-writer-wins never decides between two writers.
 * {@code uid} tells a restarted node (same address, new incarnation) from the one that left.
 * {@code pusher}: the member runs the timeline's push replicators; {@code downstreamFlushLsns}:
 * per downstream it has (configured or registered) ({@code host:port}), the durable LSN it last heard from it
 * (0 when it never pushed there); {@code listen} is the member's wire address (HOST:PORT) for
 * peers that recover WAL from it; {@code consumers}, who reads the timeline from it (null in an
 * entry of a node that predates them).
 */
record TimelineEntry(String tenantId, String timelineId, String address, long uid, long nodeId, long term,
                     long lastLogTerm, long flushLsn, long commitLsn, boolean pusher,
                     Map<String, Long> downstreamFlushLsns, String listen, List<ConsumerEntry> consumers)
        implements CborSerializable {

    /** A consumer as published: its name, kind ("pull" or "push") and durable LSN. */
    record ConsumerEntry(String name, String kind, long flushLsn) {}

    /** The map key: one entry per member incarnation and timeline. */
    String key() {
        return key(address, uid, new TenantTimelineId(tenantId, timelineId));
    }

    static String key(String address, long uid, TenantTimelineId id) {
        return address + "#" + uid + "/" + id.tenantId() + "/" + id.timelineId();
    }

    TenantTimelineId id() {
        return new TenantTimelineId(tenantId, timelineId);
    }

    ClusterTimelines.MemberPositions positions() {
        List<ClusterTimelines.DownstreamPosition> downstreams = new ArrayList<>();
        if (downstreamFlushLsns != null) {
            downstreamFlushLsns.forEach((d, lsn) -> downstreams.add(new ClusterTimelines.DownstreamPosition(d,
                    new Lsn(lsn))));
        }
        List<ClusterTimelines.Consumer> readers = consumers == null ? List.of() : consumers.stream()
                .map(c -> new ClusterTimelines.Consumer(c.name(), c.kind(), new Lsn(c.flushLsn()))).toList();
        return new ClusterTimelines.MemberPositions(id(), address, nodeId, term, lastLogTerm, new Lsn(flushLsn),
                new Lsn(commitLsn), pusher, downstreams, listen, readers);
    }
}
