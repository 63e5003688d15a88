package dev.walkeeper.actors.recovery;

import dev.walkeeper.actors.timeline.ClusterTimelines.MemberPositions;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.protocol.Lsn;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * Whether a timeline should fetch WAL from a peer, and from whom: pure, from this node's
 * positions and what the other members published.
 *
 * <ul>
 *   <li>Only when this node's flush LSN lags the timeline's commit LSN (the highest any member
 *       published: committed WAL is the same on every history) by more than {@code minLagBytes}:
 *       a node the proposer is feeding stays a little behind and needs no second source.
 *   <li>Only from a peer whose last log term equals our term (and our term is not 0): its WAL is
 *       the WAL of the one proposer elected in that term, and ours is a prefix of it — the same
 *       WAL that proposer's AppendRequests would bring (the {@code Acceptor} checks again that our
 *       installed history ends in that term). WAL is never taken from a peer on another term
 *       history, not even below its commit LSN: our uncommitted tail might differ from its WAL,
 *       and only an election truncates it.
 *   <li>The most advanced such peer (highest flush LSN, then the lowest node id, so every check
 *       picks the same one), with a wire address, whose flush LSN is beyond ours; WAL up to its
 *       flush LSN (the stream of {@code START_REPLICATION ... (term='N')}).
 * </ul>
 */
public final class RecoveryRule {
    private RecoveryRule() {}

    /**
     * Recover from {@code donor} the WAL of {@code term} from {@code from} up to at least {@code target}
     * (the donor's published flush LSN); the donor's commit LSN may become ours within our flush.
     */
    public record Plan(MemberPositions donor, long term, Lsn from, Lsn target, Lsn donorCommitLsn) {}

    /**
     * @param local this node's positions of the timeline
     * @param peers what the other members published about the same timeline (not this node's own)
     * @param minLagBytes how far the flush LSN must lag the commit LSN before recovery starts
     */
    public static Optional<Plan> decide(Timeline.Positions local, List<MemberPositions> peers, long minLagBytes) {
        if (local.term() == 0 || !local.flushLsn().isValid()) {
            return Optional.empty(); // never elected: no history to continue (a new node is copied, not recovered)
        }
        Lsn clusterCommit = peers.stream().map(MemberPositions::commitLsn).max(Comparator.naturalOrder())
                .orElse(Lsn.INVALID);
        if (!clusterCommit.isValid() || clusterCommit.value() - local.flushLsn().value() <= minLagBytes
                || clusterCommit.compareTo(local.flushLsn()) <= 0) {
            return Optional.empty();
        }
        return peers.stream()
                .filter(p -> p.lastLogTerm() == local.term())
                .filter(p -> p.flushLsn().compareTo(local.flushLsn()) > 0)
                .filter(p -> !p.listen().isEmpty())
                .max(Comparator.comparing(MemberPositions::flushLsn)
                        .thenComparing(Comparator.comparingLong(MemberPositions::nodeId).reversed()))
                .map(donor -> new Plan(donor, local.term(), local.flushLsn(), donor.flushLsn(), donor.commitLsn()));
    }
}
