package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.MessageReader;
import dev.walkeeper.protocol.pg.ProtocolException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A timeline's acceptor state as one node tells it to another (Neon's control file, as its
 * {@code pull_timeline} copies it): the answer to {@code TIMELINE_STATE}, one text row whose
 * columns are {@link #COLUMNS}. The term history is {@code term@X/Y} entries joined by commas; the
 * membership configuration is the hex of its wire form (as in the greetings).
 */
public record TimelineSnapshot(TenantTimelineId id, int pgVersion, long systemId, int walSegSize,
                               MembershipConfiguration mconf, long term, TermHistory termHistory,
                               Lsn timelineStartLsn, Lsn localStartLsn, Lsn flushLsn, Lsn commitLsn,
                               Lsn peerHorizonLsn) {

    public static final List<String> COLUMNS = List.of("tenant_id", "timeline_id", "pg_version", "system_id",
            "wal_seg_size", "mconf", "term", "term_history", "timeline_start_lsn", "local_start_lsn", "flush_lsn",
            "commit_lsn", "peer_horizon_lsn");

    public TimelineSnapshot {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(mconf, "mconf");
        Objects.requireNonNull(termHistory, "termHistory");
        Objects.requireNonNull(timelineStartLsn, "timelineStartLsn");
        Objects.requireNonNull(localStartLsn, "localStartLsn");
        Objects.requireNonNull(flushLsn, "flushLsn");
        Objects.requireNonNull(commitLsn, "commitLsn");
        Objects.requireNonNull(peerHorizonLsn, "peerHorizonLsn");
    }

    /** The term of the last history entry our WAL reaches: what elections and recovery compare. */
    public long lastLogTerm() {
        return termHistory.upTo(flushLsn).lastTerm();
    }

    /** The row's values, in the order of {@link #COLUMNS}. */
    public List<String> toRow() {
        PayloadWriter w = new PayloadWriter(64);
        WireFields.writeMconf(w, mconf);
        return List.of(id.tenantId(), id.timelineId(), Integer.toString(pgVersion), Long.toUnsignedString(systemId),
                Integer.toString(walSegSize), HexFormat.of().formatHex(w.finish()), Long.toUnsignedString(term),
                historyText(termHistory), timelineStartLsn.toString(), localStartLsn.toString(), flushLsn.toString(),
                commitLsn.toString(), peerHorizonLsn.toString());
    }

    /**
     * Reads a row by column name.
     *
     * @throws ProtocolException if a column is missing or malformed
     */
    public static TimelineSnapshot fromRow(Map<String, String> row) {
        try {
            MessageReader mconfReader = new MessageReader(HexFormat.of().parseHex(column(row, "mconf")), "mconf");
            MembershipConfiguration mconf = WireFields.readMconf(mconfReader, "mconf");
            mconfReader.expectEnd();
            return new TimelineSnapshot(new TenantTimelineId(column(row, "tenant_id"), column(row, "timeline_id")),
                    Integer.parseInt(column(row, "pg_version")), Long.parseUnsignedLong(column(row, "system_id")),
                    Integer.parseInt(column(row, "wal_seg_size")), mconf, Long.parseUnsignedLong(column(row, "term")),
                    parseHistory(column(row, "term_history")), Lsn.parse(column(row, "timeline_start_lsn")),
                    Lsn.parse(column(row, "local_start_lsn")), Lsn.parse(column(row, "flush_lsn")),
                    Lsn.parse(column(row, "commit_lsn")), Lsn.parse(column(row, "peer_horizon_lsn")));
        } catch (IllegalArgumentException e) {
            throw new ProtocolException("invalid TIMELINE_STATE row: " + e.getMessage());
        }
    }

    private static String column(Map<String, String> row, String name) {
        String value = row.get(name);
        if (value == null) {
            throw new ProtocolException("TIMELINE_STATE row lacks column " + name);
        }
        return value;
    }

    static String historyText(TermHistory history) {
        List<String> parts = new ArrayList<>();
        for (TermSwitch s : history.entries()) {
            parts.add(Long.toUnsignedString(s.term()) + "@" + s.lsn());
        }
        return String.join(",", parts);
    }

    static TermHistory parseHistory(String text) {
        List<TermSwitch> entries = new ArrayList<>();
        if (!text.isEmpty()) {
            for (String part : text.split(",", -1)) {
                int at = part.indexOf('@');
                if (at <= 0) {
                    throw new IllegalArgumentException("term history entry is not TERM@X/Y: " + part);
                }
                entries.add(new TermSwitch(Long.parseUnsignedLong(part.substring(0, at)),
                        Lsn.parse(part.substring(at + 1))));
            }
        }
        return new TermHistory(entries);
    }
}
