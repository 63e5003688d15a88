package dev.walkeeper.actors.timeline;

import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which member pushes a timeline's committed WAL to its downstreams: a pure rule over the shared
 * view, so every member computes the same answer from the same view with no coordination of its
 * own (views differ only while gossip spreads a change; the downstream refuses a second live
 * pusher meanwhile).
 *
 * <ol>
 *   <li><b>Candidates</b>: members whose status is {@code up} (reachable, not leaving) and that
 *       published the timeline with at least one downstream (configured or registered).</li>
 *   <li><b>Up to date</b>: a candidate on the highest last log term among them whose flush LSN is
 *       at most {@code lagTolerance} bytes behind the highest commit LSN any up member published
 *       (published positions are up to a publish interval old, so a pusher is not dropped for a
 *       burst). When no candidate is up to date, the most advanced by (last log term, flush LSN).</li>
 *   <li><b>Sticky</b>: an up-to-date candidate that already pushes keeps the role (the lowest
 *       node id if two briefly do); otherwise the up-to-date candidate with the lowest node id
 *       (then address) takes it. So the role moves only when its holder is down, unreachable or
 *       behind, and never back and forth between healthy members.</li>
 * </ol>
 */
public final class PusherChoice {
    private PusherChoice() {}

    /** The status a member must have to be chosen. */
    static final String UP = "up";

    private static final Comparator<ClusterTimelines.MemberPositions> BY_ID =
            Comparator.comparingLong(ClusterTimelines.MemberPositions::nodeId)
                    .thenComparing(ClusterTimelines.MemberPositions::address);

    /**
     * The address of the member that should push timeline {@code id}, or empty when no member
     * can (none up has published it with a downstream).
     */
    public static Optional<String> choose(ClusterTimelines.View view, TenantTimelineId id, long lagTolerance) {
        if (lagTolerance < 0) {
            throw new IllegalArgumentException("lagTolerance must not be negative, got " + lagTolerance);
        }
        Map<String, String> status = new HashMap<>();
        view.members().forEach(m -> status.put(m.address(), m.status()));
        List<ClusterTimelines.MemberPositions> up = new ArrayList<>();
        for (ClusterTimelines.MemberPositions p : view.positions()) {
            if (p.id().equals(id) && UP.equals(status.get(p.address()))) {
                up.add(p);
            }
        }
        List<ClusterTimelines.MemberPositions> candidates = up.stream().filter(p -> !p.downstreams().isEmpty()).toList();
        if (candidates.isEmpty()) {
            return Optional.empty();
        }
        long highestCommit = up.stream().mapToLong(p -> p.commitLsn().value()).max().orElse(0);
        long lastLogTerm = candidates.stream().mapToLong(ClusterTimelines.MemberPositions::lastLogTerm).max().orElse(0);
        List<ClusterTimelines.MemberPositions> upToDate = candidates.stream()
                .filter(p -> p.lastLogTerm() == lastLogTerm)
                .filter(p -> p.flushLsn().value() >= highestCommit - lagTolerance)
                .toList();
        if (upToDate.isEmpty()) {
            return candidates.stream()
                    .max(Comparator.comparingLong(ClusterTimelines.MemberPositions::lastLogTerm)
                            .thenComparingLong(p -> p.flushLsn().value())
                            .thenComparing(BY_ID.reversed()))
                    .map(ClusterTimelines.MemberPositions::address);
        }
        Optional<ClusterTimelines.MemberPositions> holder = upToDate.stream()
                .filter(ClusterTimelines.MemberPositions::pusher).min(BY_ID);
        return holder.or(() -> upToDate.stream().min(BY_ID)).map(ClusterTimelines.MemberPositions::address);
    }
}
