package dev.walkeeper.actors.recovery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.walkeeper.actors.consensus.Acceptor;
import dev.walkeeper.actors.timeline.ClusterTimelines.Member;
import dev.walkeeper.actors.timeline.ClusterTimelines.MemberPositions;
import dev.walkeeper.actors.timeline.ClusterTimelines.View;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import java.util.List;
import org.junit.jupiter.api.Test;

class CopyRuleTest {
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");
    private static final TenantTimelineId OTHER = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "00000000000000000000000000000000");
    private static final Lsn START = Lsn.parse("0/1000028");

    private static MemberPositions at(int node, long term, long lastLogTerm, long flush, long commit) {
        return new MemberPositions(ID, "pekko://walkeeper@h" + node + ":2551", node, term, lastLogTerm,
                START.plus(flush), START.plus(commit), "h" + node + ":5454");
    }

    private static Member member(int node, String status, boolean self) {
        return new Member("pekko://walkeeper@h" + node + ":2551", node, status, self);
    }

    private static TimelineSnapshot donor(long term, TermHistory history, long flush, long commit) {
        return new TimelineSnapshot(ID, 150018, 42, 16 << 20, MembershipConfiguration.EMPTY, term, history, START,
                START, START.plus(flush), START.plus(commit), START);
    }

    private static TermHistory history(long... termAndOffset) {
        List<TermSwitch> entries = new java.util.ArrayList<>();
        for (int i = 0; i < termAndOffset.length; i += 2) {
            entries.add(new TermSwitch(termAndOffset[i], START.plus(termAndOffset[i + 1])));
        }
        return new TermHistory(entries);
    }

    @Test
    void theDonorIsTheMostAdvancedMemberThatIsUpWithAnAddress() {
        MemberPositions newerTerm = at(3, 3, 3, 100, 100);
        View view = new View(List.of(member(1, "up", false), member(2, "up", false), member(3, "up", false),
                member(4, "unreachable", false), member(5, "up", true)),
                List.of(at(1, 2, 2, 500, 400), at(2, 3, 2, 900, 400), newerTerm, at(4, 9, 9, 999, 999),
                        at(5, 9, 9, 999, 999),
                        new MemberPositions(OTHER, "pekko://walkeeper@h1:2551", 1, 9, 9, START, START, "h1:5454")));
        assertEquals(newerTerm, CopyRule.chooseDonor(ID, view), "last log term first, unreachable and self skipped");

        View tie = new View(List.of(member(1, "up", false), member(2, "up", false)),
                List.of(at(2, 2, 2, 500, 400), at(1, 2, 2, 500, 400)));
        assertEquals(1, CopyRule.chooseDonor(ID, tie).nodeId(), "the lowest node id on a tie");
    }

    @Test
    void noMemberHoldingTheTimelineIsARefusal() {
        View view = new View(List.of(member(1, "up", false), member(2, "up", true)),
                List.of(at(1, 1, 0, 0, 0), new MemberPositions(ID, "pekko://walkeeper@h1:2551", 1, 1, 1, START, START)));
        CopyRule.Refused refused = assertThrows(CopyRule.Refused.class, () -> CopyRule.chooseDonor(ID, view));
        assertEquals(SqlState.UNDEFINED_OBJECT, refused.sqlState());
        assertThrows(CopyRule.Refused.class, () -> CopyRule.chooseDonor(ID, View.NONE));
    }

    @Test
    void aDonorOnTheLatestHistoryGivesAllItsWalAndTheTermIsTheHighestPublished() {
        Acceptor.Copy copy = CopyRule.plan(donor(3, history(1, 0, 2, 300), 800, 600),
                List.of(at(1, 3, 2, 800, 600), at(2, 4, 2, 700, 600)));
        assertEquals(START.plus(800), copy.limit());
        assertEquals(history(1, 0, 2, 300), copy.history());
        assertEquals(4, copy.term(), "never below a term a member journaled");
        assertEquals(2, copy.walTerm());
        assertEquals(START, copy.localStartLsn());
        assertEquals(START.plus(600), copy.peerCommitLsn());
    }

    @Test
    void aDonorOnAnOlderHistoryGivesOnlyItsCommittedWal() {
        Acceptor.Copy copy = CopyRule.plan(donor(2, history(1, 0, 2, 300), 800, 200),
                List.of(at(1, 2, 2, 800, 200), at(2, 3, 3, 500, 450)));
        assertEquals(START.plus(200), copy.limit(), "its commit LSN, not its flush");
        assertEquals(history(1, 0), copy.history(), "its history cut there");
        assertEquals(3, copy.term());
        assertEquals(2, copy.walTerm(), "the stream is of its last log term");
    }

    @Test
    void aDonorWithoutWalIsARefusal() {
        assertThrows(CopyRule.Refused.class, () -> CopyRule.plan(donor(1, TermHistory.EMPTY, 0, 0), List.of()));
        TimelineSnapshot noStart = new TimelineSnapshot(ID, 150018, 42, 16 << 20, MembershipConfiguration.EMPTY, 1,
                history(1, 0), START, Lsn.INVALID, START, START, START);
        assertThrows(CopyRule.Refused.class, () -> CopyRule.plan(noStart, List.of()));
    }
}
