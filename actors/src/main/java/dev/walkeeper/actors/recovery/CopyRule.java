package dev.walkeeper.actors.recovery;

import dev.walkeeper.actors.consensus.Acceptor;
import dev.walkeeper.actors.consensus.ServerInfo;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.ClusterTimelines.MemberPositions;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Copying a timeline to a node that lacks it (an empty node replacing a lost one): from whom, and
 * what. Pure, over what the members published and what the donor answered to TIMELINE_STATE.
 *
 * <ul>
 *   <li><b>Donor</b>: the one the operator named, or else the most advanced member that is up and
 *       published the timeline with a wire address: highest last log term, then flush LSN, then
 *       the lowest node id.
 *   <li><b>WAL</b>: up to the donor's flush LSN when its last log term is the latest any member
 *       published (its WAL is then the latest proposer's log, which ours becomes a copy of);
 *       otherwise only up to its commit LSN: beyond it, WAL of another term history may be a tail
 *       the latest election truncates, and nothing else would remove it here.
 *   <li><b>History</b>: the donor's, cut at that limit. <b>Term</b>: the highest any member
 *       published, the donor's included, and at least the history's last term; it is journaled
 *       before the node answers anything, so the node only votes in higher terms.
 * </ul>
 */
public final class CopyRule {
    private CopyRule() {}

    /** A copy that cannot be made, with the SQLSTATE the node answers. */
    public static final class Refused extends RuntimeException {
        private final SqlState sqlState;

        public Refused(SqlState sqlState, String message) {
            super(message);
            this.sqlState = sqlState;
        }

        public SqlState sqlState() {
            return sqlState;
        }
    }

    /**
     * The donor among the other members' published positions of {@code id} ({@code view} as the
     * shared state answers it; this node's own entry is skipped).
     *
     * @throws Refused (42704) when no member that is up holds the timeline
     */
    public static MemberPositions chooseDonor(TenantTimelineId id, ClusterTimelines.View view) {
        Set<String> up = view.members().stream().filter(m -> !m.self() && "up".equals(m.status()))
                .map(ClusterTimelines.Member::address).collect(Collectors.toSet());
        return view.positions().stream()
                .filter(p -> p.id().equals(id) && up.contains(p.address()))
                .filter(p -> p.lastLogTerm() != 0 && p.flushLsn().isValid() && !p.listen().isEmpty())
                .max(Comparator.comparingLong(MemberPositions::lastLogTerm)
                        .thenComparing(MemberPositions::flushLsn)
                        .thenComparing(Comparator.comparingLong(MemberPositions::nodeId).reversed()))
                .orElseThrow(() -> new Refused(SqlState.UNDEFINED_OBJECT, "no member that is up holds timeline " + id
                        + " (members: " + view.members().size() + ", published entries of it: "
                        + view.positions().stream().filter(p -> p.id().equals(id)).count() + ")"));
    }

    /**
     * What to install from {@code donor}, given every member's published positions of the
     * timeline ({@code peers}, which may include the donor's).
     *
     * @throws Refused (42704) when the donor holds no WAL of the timeline to copy
     */
    public static Acceptor.Copy plan(TimelineSnapshot donor, List<MemberPositions> peers) {
        long latestLogTerm = peers.stream().mapToLong(MemberPositions::lastLogTerm).max().orElse(0);
        long highestTerm = peers.stream().mapToLong(MemberPositions::term).max().orElse(0);
        long donorLogTerm = donor.lastLogTerm();
        if (donorLogTerm == 0 || !donor.localStartLsn().isValid()) {
            throw new Refused(SqlState.UNDEFINED_OBJECT, "the donor holds no WAL of timeline " + donor.id()
                    + " (term " + donor.term() + ", flush " + donor.flushLsn() + ")");
        }
        Lsn limit = donorLogTerm >= latestLogTerm ? donor.flushLsn() : donor.commitLsn();
        TermHistory history = donor.termHistory().upTo(limit);
        if (history.isEmpty() || limit.compareTo(donor.localStartLsn()) < 0) {
            throw new Refused(SqlState.UNDEFINED_OBJECT, "the donor's last log term " + donorLogTerm
                    + " is behind the cluster's " + latestLogTerm + " and it has no committed WAL of timeline "
                    + donor.id() + " to copy (commit " + donor.commitLsn() + ")");
        }
        long term = Math.max(Math.max(highestTerm, donor.term()), history.lastTerm());
        return new Acceptor.Copy(donor.id(), new ServerInfo(donor.pgVersion(), donor.systemId(), donor.walSegSize()),
                donor.mconf(), term, history, donor.timelineStartLsn(), donor.localStartLsn(), donorLogTerm, limit,
                donor.commitLsn(), donor.peerHorizonLsn());
    }
}
