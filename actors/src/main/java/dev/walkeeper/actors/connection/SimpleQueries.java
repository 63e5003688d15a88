package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.recovery.TimelineCopy;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.RuntimeDownstreams;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription.Field;
import dev.walkeeper.protocol.pg.PgSize;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Answers to the commands that complete in one reply (no mode change), as PostgreSQL's walsender
 * shapes them: column names, types and command tags match, because clients such as
 * pg_receivewal read them by position and type.
 */
final class SimpleQueries {
    private final ConnectionSettings settings;

    SimpleQueries(ConnectionSettings settings) {
        this.settings = settings;
    }

    /** IDENTIFY_SYSTEM: systemid text, timeline int8, xlogpos text, dbname text (NULL unless a database connection). */
    List<BackendMessage> identifySystem(long systemId, Lsn xlogpos, String databaseOrNull) {
        return List.of(
                new RowDescription(List.of(
                        Field.text("systemid", Field.TEXT_OID, -1),
                        Field.text("timeline", Field.INT8_OID, 8),
                        Field.text("xlogpos", Field.TEXT_OID, -1),
                        Field.text("dbname", Field.TEXT_OID, -1))),
                DataRow.ofText(Long.toUnsignedString(systemId), "1", xlogpos.toString(), databaseOrNull),
                new CommandComplete("IDENTIFY_SYSTEM"));
    }

    /** TIMELINE_STATE: one row of {@link TimelineSnapshot#COLUMNS} (text), none if the timeline is not here. */
    List<BackendMessage> timelineState(TimelineSnapshot snapshot) {
        List<BackendMessage> out = new ArrayList<>();
        out.add(new RowDescription(TimelineSnapshot.COLUMNS.stream().map(n -> Field.text(n, Field.TEXT_OID, -1))
                .toList()));
        if (snapshot != null) {
            out.add(DataRow.ofText(snapshot.toRow().toArray(String[]::new)));
        }
        out.add(new CommandComplete("TIMELINE_STATE"));
        return out;
    }

    /** PULL_TIMELINE's row: where the copy came from and this node's positions once it is flushed. */
    List<BackendMessage> pulled(TimelineCopy.Copied copied) {
        return List.of(
                new RowDescription(List.of(Field.text("donor", Field.TEXT_OID, -1),
                        Field.text("term", Field.INT8_OID, 8), Field.text("flush_lsn", Field.TEXT_OID, -1),
                        Field.text("commit_lsn", Field.TEXT_OID, -1))),
                DataRow.ofText(copied.donor(), Long.toUnsignedString(copied.term()), copied.flushLsn().toString(),
                        copied.commitLsn().toString()),
                new CommandComplete("PULL_TIMELINE"));
    }

    /** TIMELINE_CONSUMERS rows; lag is measured from the commit LSN to what the consumer flushed. */
    List<BackendMessage> consumers(Timeline.Consumers consumers, List<PushReplicator.Status> pushers) {
        List<BackendMessage> out = new ArrayList<>();
        List<Field> columns = new ArrayList<>();
        for (String name : List.of("kind", "name", "address", "sent_lsn", "flush_lsn", "apply_lsn")) {
            columns.add(Field.text(name, Field.TEXT_OID, -1));
        }
        columns.add(Field.text("lag_bytes", Field.INT8_OID, 8));
        out.add(new RowDescription(columns));
        for (Timeline.WalConsumer c : consumers.consumers()) {
            long lag = Math.max(0, consumers.commitLsn().value() - c.flushLsn().value());
            out.add(DataRow.ofText(c.kind(), c.name(), c.address(), c.sentLsn().toString(), c.flushLsn().toString(),
                    c.applyLsn().toString(), Long.toString(lag)));
        }
        for (PushReplicator.Status p : pushers) {
            out.add(DataRow.ofText("push", (p.connected() ? "connected " : "reconnecting ") + p.reconnects(),
                    p.downstream().getHostString() + ":" + p.downstream().getPort(), p.sentLsn().toString(),
                    p.downstreamFlushLsn().toString(), p.downstreamFlushLsn().toString(), Long.toString(p.lagBytes())));
        }
        out.add(new CommandComplete("TIMELINE_CONSUMERS"));
        return out;
    }

    /**
     * TIMELINE_STATUS: Neon's flush_lsn and commit_lsn first, then the term, the member and where
     * the row comes from: {@code local} (this node's timeline, the first row when it exists here)
     * or {@code cluster} (another member's last published positions). node_id, member and
     * member_status are null on a node that is no cluster member. Then, as published: pusher
     * ('t' for the member that pushes the timeline to its downstreams), downstream_flush_lsns
     * (each downstream it lists, {@code host:port=LSN}, comma-separated) and consumers (its pull
     * clients and, while it pushes, its downstreams: {@code kind:name=LSN}, comma-separated); null
     * where nothing was published.
     */
    List<BackendMessage> timelineStatus(Timeline.Status local, ClusterTimelines.View view) {
        List<BackendMessage> out = new ArrayList<>();
        List<Field> columns = new ArrayList<>();
        for (String name : List.of("flush_lsn", "commit_lsn")) {
            columns.add(Field.text(name, Field.TEXT_OID, -1));
        }
        for (String name : List.of("term", "last_log_term", "node_id")) {
            columns.add(Field.text(name, Field.INT8_OID, 8));
        }
        for (String name : List.of("member", "member_status", "source", "pusher", "downstream_flush_lsns",
                "consumers")) {
            columns.add(Field.text(name, Field.TEXT_OID, -1));
        }
        out.add(new RowDescription(columns));
        Map<String, ClusterTimelines.Member> members = new LinkedHashMap<>();
        view.members().forEach(m -> members.put(m.address(), m));
        if (local.exists()) {
            ClusterTimelines.Member self = view.members().stream().filter(ClusterTimelines.Member::self)
                    .findFirst().orElse(null);
            ClusterTimelines.MemberPositions published = self == null ? null : view.positions().stream()
                    .filter(p -> p.address().equals(self.address())).findFirst().orElse(null);
            out.add(DataRow.ofText(local.flushLsn().toString(), local.commitLsn().toString(),
                    Long.toString(local.term()), Long.toString(local.lastLogTerm()),
                    self == null ? null : Long.toString(self.nodeId()), self == null ? null : self.address(),
                    self == null ? null : self.status(), "local", published == null ? null : pusher(published),
                    published == null ? null : downstreams(published), published == null ? null : consumers(published)));
        }
        for (ClusterTimelines.MemberPositions p : view.positions()) {
            ClusterTimelines.Member member = members.get(p.address());
            if (member == null || member.self()) {
                continue;
            }
            out.add(DataRow.ofText(p.flushLsn().toString(), p.commitLsn().toString(), Long.toString(p.term()),
                    Long.toString(p.lastLogTerm()), Long.toString(p.nodeId()), p.address(), member.status(),
                    "cluster", pusher(p), downstreams(p), consumers(p)));
        }
        out.add(new CommandComplete("TIMELINE_STATUS"));
        return out;
    }

    /**
     * CLUSTER_STATUS: one row per member ({@code kind} 'member': address, node id, status, 't' for
     * this node), then one per timeline and member that published it ({@code kind} 'timeline':
     * the member and the timeline's positions there, whether it is the timeline's pusher and its
     * downstreams' durable LSNs and its consumers, as in TIMELINE_STATUS). Empty on a node that is
     * no cluster member.
     */
    List<BackendMessage> clusterStatus(ClusterTimelines.View view) {
        List<BackendMessage> out = new ArrayList<>();
        List<Field> columns = new ArrayList<>();
        for (String name : List.of("kind", "member")) {
            columns.add(Field.text(name, Field.TEXT_OID, -1));
        }
        columns.add(Field.text("node_id", Field.INT8_OID, 8));
        for (String name : List.of("member_status", "self", "tenant_id", "timeline_id")) {
            columns.add(Field.text(name, Field.TEXT_OID, -1));
        }
        for (String name : List.of("term", "last_log_term")) {
            columns.add(Field.text(name, Field.INT8_OID, 8));
        }
        for (String name : List.of("flush_lsn", "commit_lsn", "pusher", "downstream_flush_lsns", "consumers")) {
            columns.add(Field.text(name, Field.TEXT_OID, -1));
        }
        out.add(new RowDescription(columns));
        Map<String, ClusterTimelines.Member> members = new LinkedHashMap<>();
        for (ClusterTimelines.Member m : view.members()) {
            members.put(m.address(), m);
            out.add(DataRow.ofText("member", m.address(), Long.toString(m.nodeId()), m.status(), m.self() ? "t" : "f",
                    null, null, null, null, null, null, null, null, null));
        }
        for (ClusterTimelines.MemberPositions p : view.positions()) {
            ClusterTimelines.Member m = members.get(p.address());
            out.add(DataRow.ofText("timeline", p.address(), Long.toString(p.nodeId()), m == null ? null : m.status(),
                    m != null && m.self() ? "t" : "f", p.id().tenantId(), p.id().timelineId(), Long.toString(p.term()),
                    Long.toString(p.lastLogTerm()), p.flushLsn().toString(), p.commitLsn().toString(), pusher(p),
                    downstreams(p), consumers(p)));
        }
        out.add(new CommandComplete("CLUSTER_STATUS"));
        return out;
    }

    /**
     * ADD_DOWNSTREAM, REMOVE_DOWNSTREAM and LIST_DOWNSTREAMS: the downstreams registered (after
     * the change), one row each — name, tenant_id, timeline_id, host, port, user — tagged with the command.
     */
    List<BackendMessage> downstreams(List<RuntimeDownstreams.Registered> downstreams, String tag) {
        List<BackendMessage> out = new ArrayList<>();
        List<Field> columns = new ArrayList<>();
        for (String name : List.of("name", "tenant_id", "timeline_id", "host")) {
            columns.add(Field.text(name, Field.TEXT_OID, -1));
        }
        columns.add(Field.text("port", Field.INT4_OID, 4));
        columns.add(Field.text("user", Field.TEXT_OID, -1));
        out.add(new RowDescription(columns));
        for (RuntimeDownstreams.Registered d : downstreams) {
            out.add(DataRow.ofText(d.name(), d.timeline().tenantId(), d.timeline().timelineId(), d.host(),
                    Integer.toString(d.port()), d.user()));
        }
        out.add(new CommandComplete(tag));
        return out;
    }

    private static String pusher(ClusterTimelines.MemberPositions p) {
        return p.pusher() ? "t" : "f";
    }

    /** {@code host:port=LSN,...}: what each downstream last reported durable to the member. */
    private static String downstreams(ClusterTimelines.MemberPositions p) {
        StringBuilder b = new StringBuilder();
        for (ClusterTimelines.DownstreamPosition d : p.downstreams()) {
            b.append(b.length() == 0 ? "" : ",").append(d.downstream()).append('=').append(d.flushLsn());
        }
        return b.toString();
    }

    /** {@code kind:name=LSN,...}: who reads the timeline from the member (pull clients, push downstreams). */
    private static String consumers(ClusterTimelines.MemberPositions p) {
        StringBuilder b = new StringBuilder();
        for (ClusterTimelines.Consumer c : p.consumers()) {
            b.append(b.length() == 0 ? "" : ",").append(c.kind()).append(':').append(c.name()).append('=')
                    .append(c.flushLsn());
        }
        return b.toString();
    }

    /** SHOW name, or an ERROR naming the parameter as PostgreSQL does. */
    List<BackendMessage> show(String parameter) {
        String value = parameters().get(parameter);
        if (value == null) {
            return List.of(ErrorResponse.error(SqlState.UNDEFINED_OBJECT,
                    "unrecognized configuration parameter \"" + parameter + "\""));
        }
        List<BackendMessage> out = new ArrayList<>();
        out.add(new RowDescription(List.of(Field.text(parameter, Field.TEXT_OID, -1))));
        out.add(DataRow.ofText(value));
        out.add(new CommandComplete("SHOW"));
        return out;
    }

    /** The parameters SHOW knows, in PostgreSQL's text forms. */
    private Map<String, String> parameters() {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("wal_segment_size", PgSize.format(settings.walSegmentSize()));
        p.put("wal_block_size", "8192");
        p.put("server_version", settings.serverVersion());
        p.put("server_encoding", "UTF8");
        p.put("data_directory_mode", "0700");
        p.put("integer_datetimes", "on");
        p.put("timezone", "UTC");
        return p;
    }
}
