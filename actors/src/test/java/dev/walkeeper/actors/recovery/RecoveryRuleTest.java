package dev.walkeeper.actors.recovery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.timeline.ClusterTimelines.MemberPositions;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Whether and from whom a lagging timeline recovers WAL: {@link RecoveryRule}. */
class RecoveryRuleTest {
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");
    private static final long MIB = 1024 * 1024;

    private static Lsn at(long mib) {
        return new Lsn(0x1000000L + mib * MIB);
    }

    private static Timeline.Positions local(long term, long lastLogTerm, long flushMib) {
        return new Timeline.Positions(term, lastLogTerm, at(flushMib), at(flushMib));
    }

    private static MemberPositions peer(long nodeId, long term, long lastLogTerm, long flushMib, long commitMib) {
        return new MemberPositions(ID, "pekko://walkeeper@127.0.0.1:" + (2550 + nodeId), nodeId, term, lastLogTerm,
                at(flushMib), at(commitMib), "127.0.0.1:" + (5450 + nodeId));
    }

    @Test
    void aLaggingNodeRecoversFromTheMostAdvancedPeerOfItsTermUpToItsFlush() {
        Optional<RecoveryRule.Plan> plan = RecoveryRule.decide(local(3, 3, 10),
                List.of(peer(2, 3, 3, 90, 85), peer(3, 3, 3, 100, 85)), 16 * MIB);
        assertTrue(plan.isPresent());
        assertEquals(3, plan.get().donor().nodeId());
        assertEquals(3, plan.get().term());
        assertEquals(at(10), plan.get().from());
        assertEquals(at(100), plan.get().target(), "up to the donor's flush: its WAL is our term's proposer's");
        assertEquals(at(85), plan.get().donorCommitLsn());
    }

    @Test
    void onlyPeersWhoseLastLogTermIsOurTerm() {
        // Node 2 has more WAL, but of term 4: our tail of term 3 might not be in its history.
        Optional<RecoveryRule.Plan> plan = RecoveryRule.decide(local(3, 3, 10),
                List.of(peer(2, 4, 4, 200, 150), peer(3, 4, 3, 60, 50)), 16 * MIB);
        assertEquals(3, plan.orElseThrow().donor().nodeId());
        // No peer of our term: nothing, not even committed WAL from another history.
        assertTrue(RecoveryRule.decide(local(3, 3, 10), List.of(peer(2, 4, 4, 200, 150), peer(3, 2, 2, 300, 150)),
                16 * MIB).isEmpty());
        // Elected into term 4 beyond our WAL (our last log term still 3): term 4's WAL continues ours.
        assertEquals(2, RecoveryRule.decide(local(4, 3, 10), List.of(peer(2, 4, 4, 200, 150)), 16 * MIB)
                .orElseThrow().donor().nodeId());
    }

    @Test
    void nothingWithinTheMinimumLagOrForANodeNeverElected() {
        List<MemberPositions> peers = List.of(peer(2, 3, 3, 40, 30));
        assertTrue(RecoveryRule.decide(local(3, 3, 14), peers, 16 * MIB).isEmpty(), "16 MiB behind the commit");
        assertTrue(RecoveryRule.decide(local(3, 3, 13), peers, 16 * MIB).isPresent(), "17 MiB behind");
        assertTrue(RecoveryRule.decide(local(3, 3, 35), peers, 0).isEmpty(), "ahead of the commit LSN");
        assertTrue(RecoveryRule.decide(new Timeline.Positions(0, 0, Lsn.INVALID, Lsn.INVALID), peers, 0).isEmpty());
        assertTrue(RecoveryRule.decide(local(3, 3, 10), List.of(), 0).isEmpty());
    }

    @Test
    void theCommitLsnMayComeFromAnyPeerButTheDonorMustHaveMoreWalAndAnAddress() {
        // The commit LSN is the cluster's (node 2 on term 4), the donor is of our term.
        List<MemberPositions> peers = List.of(peer(2, 4, 4, 100, 90), peer(3, 3, 3, 40, 20));
        assertEquals(3, RecoveryRule.decide(local(3, 3, 10), peers, 16 * MIB).orElseThrow().donor().nodeId());
        // A donor not ahead of us, or without a wire address, is no donor.
        assertTrue(RecoveryRule.decide(local(3, 3, 40), peers, 16 * MIB).isEmpty());
        MemberPositions silent = new MemberPositions(ID, "pekko://walkeeper@127.0.0.1:2553", 3, 3, 3, at(40), at(20));
        assertTrue(RecoveryRule.decide(local(3, 3, 10), List.of(peer(2, 4, 4, 100, 90), silent), 16 * MIB).isEmpty());
    }

    @Test
    void equallyAdvancedDonorsAreChosenByTheLowestNodeId() {
        List<MemberPositions> peers = List.of(peer(5, 3, 3, 100, 90), peer(2, 3, 3, 100, 90), peer(4, 3, 3, 100, 90));
        assertEquals(2, RecoveryRule.decide(local(3, 3, 10), peers, 0).orElseThrow().donor().nodeId());
    }

    @Test
    void listenAddressesParse() {
        assertEquals("127.0.0.1", PeerRecovery.parseListen("127.0.0.1:5454").getHostString());
        assertEquals(5454, PeerRecovery.parseListen("127.0.0.1:5454").getPort());
        assertEquals("::1", PeerRecovery.parseListen("[::1]:5455").getHostString());
        assertThrows(IllegalArgumentException.class, () -> PeerRecovery.parseListen("localhost"));
        assertThrows(IllegalArgumentException.class, () -> PeerRecovery.parseListen("localhost:0"));
        assertThrows(IllegalArgumentException.class, () -> PeerRecovery.parseListen("localhost:x"));
    }
}
