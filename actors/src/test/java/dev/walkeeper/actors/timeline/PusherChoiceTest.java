package dev.walkeeper.actors.timeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Gen;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.Seeds;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class PusherChoiceTest {
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");
    private static final TenantTimelineId OTHER = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "00000000000000000000000000000001");
    private static final long TOLERANCE = 16L << 20;
    private static final List<ClusterTimelines.DownstreamPosition> ONE_DOWNSTREAM =
            List.of(new ClusterTimelines.DownstreamPosition("127.0.0.1:5455", Lsn.INVALID));

    private static String address(long nodeId) {
        return "pekko://walkeeper@127.0.0.1:" + (2550 + nodeId);
    }

    private static ClusterTimelines.Member member(long nodeId, String status) {
        return new ClusterTimelines.Member(address(nodeId), nodeId, status, false);
    }

    private static ClusterTimelines.MemberPositions at(long nodeId, long lastLogTerm, long flush, long commit,
                                                       boolean pusher) {
        return new ClusterTimelines.MemberPositions(ID, address(nodeId), nodeId, lastLogTerm, lastLogTerm,
                new Lsn(flush), new Lsn(commit), pusher, ONE_DOWNSTREAM);
    }

    private static Optional<String> choose(List<ClusterTimelines.Member> members,
                                           List<ClusterTimelines.MemberPositions> positions) {
        return PusherChoice.choose(new ClusterTimelines.View(members, positions), ID, TOLERANCE);
    }

    private static final long MB = 1 << 20;

    @Test
    void theLowestNodeIdAmongUpToDateMembersPushesWhenNobodyDoes() {
        List<ClusterTimelines.Member> members = List.of(member(3, "up"), member(1, "up"), member(2, "up"));
        assertEquals(Optional.of(address(1)), choose(members,
                List.of(at(3, 2, 100 * MB, 100 * MB, false), at(1, 2, 99 * MB, 100 * MB, false),
                        at(2, 2, 100 * MB, 100 * MB, false))));
    }

    @Test
    void theCurrentPusherKeepsTheRoleWhileUpAndNotBehind() {
        List<ClusterTimelines.Member> members = List.of(member(1, "up"), member(2, "up"), member(3, "up"));
        // Node 2 pushes and is 10 MB behind node 3's commit: within the tolerance, it stays.
        assertEquals(Optional.of(address(2)), choose(members,
                List.of(at(1, 2, 100 * MB, 100 * MB, false), at(2, 2, 90 * MB, 90 * MB, true),
                        at(3, 2, 100 * MB, 100 * MB, false))));
    }

    @Test
    void aPusherThatFellBehindLosesTheRoleToTheLowestUpToDateMember() {
        List<ClusterTimelines.Member> members = List.of(member(1, "up"), member(2, "up"), member(3, "up"));
        assertEquals(Optional.of(address(3)), choose(members,
                List.of(at(1, 2, 50 * MB, 50 * MB, true), at(2, 2, 60 * MB, 60 * MB, false),
                        at(3, 2, 100 * MB, 100 * MB, false))));
    }

    @Test
    void aPusherThatIsUnreachableDownOrLeavingIsReplaced() {
        List<ClusterTimelines.MemberPositions> positions = List.of(at(1, 2, 100 * MB, 100 * MB, true),
                at(2, 2, 100 * MB, 100 * MB, false), at(3, 2, 100 * MB, 100 * MB, false));
        for (String status : List.of("unreachable", "down", "leaving", "exiting", "joining")) {
            assertEquals(Optional.of(address(2)), choose(List.of(member(1, status), member(2, "up"), member(3, "up")),
                    positions), status);
        }
        // No longer a member at all: its entries may still be in the view.
        assertEquals(Optional.of(address(2)), choose(List.of(member(2, "up"), member(3, "up")), positions));
    }

    @Test
    void anUnreachableMembersCommitDoesNotMakeEveryoneBehind() {
        List<ClusterTimelines.Member> members = List.of(member(1, "unreachable"), member(2, "up"), member(3, "up"));
        assertEquals(Optional.of(address(2)), choose(members,
                List.of(at(1, 2, 900 * MB, 900 * MB, true), at(2, 2, 100 * MB, 100 * MB, false),
                        at(3, 2, 100 * MB, 100 * MB, false))));
    }

    @Test
    void membersOnAnOlderLastLogTermAreNotUpToDate() {
        List<ClusterTimelines.Member> members = List.of(member(1, "up"), member(2, "up"));
        // Node 1 holds more WAL, but of a term the cluster moved past.
        assertEquals(Optional.of(address(2)), choose(members,
                List.of(at(1, 2, 200 * MB, 100 * MB, true), at(2, 3, 100 * MB, 100 * MB, false))));
    }

    @Test
    void withNobodyUpToDateTheMostAdvancedPushes() {
        List<ClusterTimelines.Member> members = List.of(member(1, "up"), member(2, "up"), member(3, "up"));
        // Node 1 reports a commit LSN nobody with a downstream has flushed near.
        ClusterTimelines.MemberPositions noDownstream = new ClusterTimelines.MemberPositions(ID, address(1), 1, 2, 2,
                new Lsn(500 * MB), new Lsn(500 * MB));
        assertEquals(Optional.of(address(3)), choose(members,
                List.of(noDownstream, at(2, 2, 100 * MB, 100 * MB, true), at(3, 2, 200 * MB, 200 * MB, false))));
    }

    @Test
    void onlyMembersListingADownstreamOfThisTimelineAreChosen() {
        List<ClusterTimelines.Member> members = List.of(member(1, "up"), member(2, "up"));
        ClusterTimelines.MemberPositions noDownstream = new ClusterTimelines.MemberPositions(ID, address(1), 1, 2, 2,
                new Lsn(100 * MB), new Lsn(100 * MB));
        ClusterTimelines.MemberPositions otherTimeline = new ClusterTimelines.MemberPositions(OTHER, address(2), 2, 2,
                2, new Lsn(100 * MB), new Lsn(100 * MB), false, ONE_DOWNSTREAM);
        assertEquals(Optional.empty(), choose(members, List.of(noDownstream, otherTimeline)));
        assertEquals(Optional.empty(), choose(members, List.of()));
        assertEquals(Optional.of(address(2)), choose(members, List.of(noDownstream, at(2, 2, 100 * MB, 100 * MB, false))));
    }

    @Test
    void twoClaimantsResolveToTheLowestNodeId() {
        List<ClusterTimelines.Member> members = List.of(member(1, "up"), member(2, "up"), member(3, "up"));
        assertEquals(Optional.of(address(2)), choose(members,
                List.of(at(1, 2, 100 * MB, 100 * MB, false), at(2, 2, 100 * MB, 100 * MB, true),
                        at(3, 2, 100 * MB, 100 * MB, true))));
    }

    @Test
    void aNegativeToleranceIsRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> PusherChoice.choose(ClusterTimelines.View.NONE, ID, -1));
    }

    static LongStream seeds() {
        return Seeds.of(Seeds.DEFAULT_COUNT);
    }

    /** A random view of up to six members, some of them with the timeline published. */
    private static ClusterTimelines.View randomView(Gen gen) {
        List<ClusterTimelines.Member> members = new ArrayList<>();
        List<ClusterTimelines.MemberPositions> positions = new ArrayList<>();
        int n = gen.between(0, 6);
        for (int i = 1; i <= n; i++) {
            long nodeId = gen.between(1, 9) * 10 + i; // distinct ids, not in address order
            String status = gen.oneIn(4) ? gen.of("unreachable", "leaving", "joining", "down") : "up";
            members.add(new ClusterTimelines.Member(address(nodeId), nodeId, status, false));
            if (gen.oneIn(5)) {
                continue; // holds no such timeline
            }
            long term = gen.between(1, 3);
            long commit = gen.between(0, 64) * MB;
            long flush = commit + gen.between(-40, 40) * MB;
            positions.add(new ClusterTimelines.MemberPositions(ID, address(nodeId), nodeId, term, term,
                    new Lsn(Math.max(0, flush)), new Lsn(commit), gen.oneIn(3), gen.oneIn(6) ? List.of() : ONE_DOWNSTREAM));
        }
        return new ClusterTimelines.View(members, positions);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void everyMemberComputesTheSameUpCandidateAndItSticks(long seed) {
        Seeds.check(seed, gen -> {
            ClusterTimelines.View view = randomView(gen);
            Optional<String> chosen = PusherChoice.choose(view, ID, TOLERANCE);

            // The order members and positions arrive in does not matter.
            List<ClusterTimelines.Member> members = new ArrayList<>(view.members());
            List<ClusterTimelines.MemberPositions> positions = new ArrayList<>(view.positions());
            Collections.shuffle(members, new java.util.Random(gen.anyLong()));
            Collections.shuffle(positions, new java.util.Random(gen.anyLong()));
            assertEquals(chosen, PusherChoice.choose(new ClusterTimelines.View(members, positions), ID, TOLERANCE));

            List<String> candidates = positions.stream().filter(p -> !p.downstreams().isEmpty())
                    .map(ClusterTimelines.MemberPositions::address)
                    .filter(a -> members.stream().anyMatch(m -> m.address().equals(a) && m.status().equals("up")))
                    .toList();
            assertEquals(candidates.isEmpty(), chosen.isEmpty(), view::toString);
            if (chosen.isEmpty()) {
                return;
            }
            assertTrue(candidates.contains(chosen.get()), view::toString);

            // Once the chosen member pushes (and the others stop claiming), it keeps the role.
            List<ClusterTimelines.MemberPositions> pushing = positions.stream().map(p -> new ClusterTimelines.MemberPositions(
                    p.id(), p.address(), p.nodeId(), p.term(), p.lastLogTerm(), p.flushLsn(), p.commitLsn(),
                    p.address().equals(chosen.get()), p.downstreams())).toList();
            assertEquals(chosen, PusherChoice.choose(new ClusterTimelines.View(members, pushing), ID, TOLERANCE));

            // When it becomes unreachable, someone else takes over if anyone can.
            List<ClusterTimelines.Member> without = members.stream().map(m -> m.address().equals(chosen.get())
                    ? new ClusterTimelines.Member(m.address(), m.nodeId(), "unreachable", false) : m).toList();
            Optional<String> next = PusherChoice.choose(new ClusterTimelines.View(without, pushing), ID, TOLERANCE);
            assertEquals(candidates.size() > 1, next.isPresent(), view::toString);
            next.ifPresent(n -> assertNotEquals(chosen.get(), n));
        });
    }
}
