package dev.walkeeper.actors.consensus;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Each consensus rule of the acceptor, over in-memory fakes of its two stores. */
class AcceptorTest {
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");
    private static final int SEG = 16 * 1024 * 1024;
    private static final Lsn START = Lsn.parse("0/1000028");

    private InMemoryStateStore states = new InMemoryStateStore(false);
    private InMemoryWalStore wal = new InMemoryWalStore();
    private Acceptor acceptor = new Acceptor(7, states, wal);
    private final List<AcceptorMessage> replies = new ArrayList<>();

    private void send(ProposerMessage message) {
        acceptor.handle(message, true, replies::add);
    }

    private AcceptorMessage lastReply() {
        return replies.get(replies.size() - 1);
    }

    private void reboot() {
        states = states.reboot();
        wal = wal.reboot();
        acceptor = new Acceptor(7, states, wal);
    }

    private static ProposerGreeting greeting(long systemId) {
        return new ProposerGreeting(ID, MembershipConfiguration.EMPTY, 150018, systemId, SEG);
    }

    private static TermHistory history(Object... termLsnPairs) {
        List<TermSwitch> entries = new ArrayList<>();
        for (int i = 0; i < termLsnPairs.length; i += 2) {
            entries.add(new TermSwitch(((Number) termLsnPairs[i]).longValue(), Lsn.parse((String) termLsnPairs[i + 1])));
        }
        return new TermHistory(entries);
    }

    private static byte[] walBytes(int n, int seed) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) seed);
        return b;
    }

    private static AppendRequest append(long term, Lsn begin, byte[] bytes, Lsn commit) {
        return new AppendRequest(0, term, begin, begin.plus(bytes.length), commit, Lsn.INVALID, ByteSlice.of(bytes));
    }

    /** Greets, wins term {@code term} and is elected with a history ending in it at {@code start}. */
    private void electedIn(long term, TermHistory history, Lsn start) {
        send(greeting(42));
        send(new VoteRequest(0, term));
        send(new ProposerElected(0, term, start, history));
    }

    @Test
    void greetingCreatesTheTimelineAndRepliesWithOurTerm() {
        send(greeting(42));
        AcceptorGreeting reply = assertInstanceOf(AcceptorGreeting.class, lastReply());
        assertEquals(7, reply.nodeId());
        assertEquals(0, reply.term());
        assertEquals(ID, states.state().id());
        assertEquals(42, states.state().server().systemId());
    }

    @Test
    void greetingWithoutTimelineCreationAllowedEndsSilently() {
        AcceptorException e = assertThrows(AcceptorException.class,
                () -> acceptor.handle(greeting(42), false, replies::add));
        assertTrue(e.silent());
        assertFalse(states.state().created());
    }

    @Test
    void greetingMismatchesAreErrorsAndSystemIdIsAdopted() {
        send(greeting(42));
        assertThrows(AcceptorException.class,
                () -> send(new ProposerGreeting(ID, MembershipConfiguration.EMPTY, 160002, 42, SEG)));
        assertThrows(AcceptorException.class,
                () -> send(new ProposerGreeting(ID, MembershipConfiguration.EMPTY, 150018, 42, SEG * 2)));
        assertThrows(AcceptorException.class, () -> send(new ProposerGreeting(
                new TenantTimelineId(ID.tenantId(), "00000000000000000000000000000001"),
                MembershipConfiguration.EMPTY, 150018, 42, SEG)));
        send(greeting(99));
        assertEquals(99, states.state().server().systemId());
        send(greeting(0)); // sync-safekeepers sends 0: ignored
        assertEquals(99, states.state().server().systemId());
    }

    @Test
    void voteIsGrantedOnlyForAHigherTerm() {
        send(greeting(42));
        send(new VoteRequest(0, 5));
        assertTrue(assertInstanceOf(VoteResponse.class, lastReply()).voteGiven());
        send(new VoteRequest(0, 5));
        VoteResponse again = assertInstanceOf(VoteResponse.class, lastReply());
        assertFalse(again.voteGiven(), "never two votes in one term");
        assertEquals(5, again.term());
        send(new VoteRequest(0, 4));
        assertFalse(assertInstanceOf(VoteResponse.class, lastReply()).voteGiven());
        send(new VoteRequest(0, 6));
        assertTrue(assertInstanceOf(VoteResponse.class, lastReply()).voteGiven());
    }

    @Test
    void aGrantedVoteIsRepliedOnlyOnceTheTermIsDurable() {
        states = new InMemoryStateStore(true);
        acceptor = new Acceptor(7, states, wal);
        send(greeting(42));
        states.makeDurable();
        replies.clear();
        send(new VoteRequest(0, 3));
        assertTrue(replies.isEmpty(), "no VoteResponse before the term is durable");
        states.makeDurable();
        assertTrue(assertInstanceOf(VoteResponse.class, lastReply()).voteGiven());
        assertTrue(states.durableEvents().contains(new AcceptorEvent.TermVoted(3)));
    }

    @Test
    void rebootNeverGrantsASecondVoteInTheSameTerm() {
        send(greeting(42));
        send(new VoteRequest(0, 8));
        assertTrue(assertInstanceOf(VoteResponse.class, lastReply()).voteGiven());
        reboot();
        send(greeting(42));
        assertEquals(8, assertInstanceOf(AcceptorGreeting.class, lastReply()).term());
        send(new VoteRequest(0, 8));
        assertFalse(assertInstanceOf(VoteResponse.class, lastReply()).voteGiven());
    }

    @Test
    void voteFlushesWalFirstAndReportsFlushAndHistory() {
        electedIn(1, history(1, "0/1000028"), START);
        send(append(1, START, walBytes(100, 1), Lsn.INVALID));
        int flushesBefore = wal.flushes.get();
        send(new VoteRequest(0, 2));
        VoteResponse vote = assertInstanceOf(VoteResponse.class, lastReply());
        assertTrue(wal.flushes.get() > flushesBefore);
        assertEquals(START.plus(100), vote.flushLsn());
        assertEquals(history(1, "0/1000028"), vote.history());
    }

    @Test
    void appendsAreRefusedBeforeElection() {
        send(greeting(42));
        send(new VoteRequest(0, 1));
        assertThrows(AcceptorException.class, () -> send(append(1, START, walBytes(8, 1), Lsn.INVALID)));
        assertThrows(AcceptorException.class, () -> send(append(2, START, walBytes(8, 1), Lsn.INVALID)));
    }

    @Test
    void appendFromALowerTermGetsOurTermSoTheProposerStepsDown() {
        electedIn(3, history(3, "0/1000028"), START);
        send(new VoteRequest(0, 4));
        replies.clear();
        send(append(3, START, walBytes(8, 1), Lsn.INVALID));
        AppendResponse response = assertInstanceOf(AppendResponse.class, lastReply());
        assertEquals(4, response.term());
        assertEquals(Lsn.INVALID, response.flushLsn());
        assertTrue(wal.writeLsn().equals(START), "nothing written");
    }

    @Test
    void appendsMustBeSequential() {
        electedIn(1, history(1, "0/1000028"), START);
        send(append(1, START, walBytes(16, 1), Lsn.INVALID));
        AcceptorException gap = assertThrows(AcceptorException.class,
                () -> send(append(1, START.plus(32), walBytes(8, 2), Lsn.INVALID)));
        assertTrue(gap.getMessage().contains("gap") && gap.getMessage().contains(START.plus(16).toString()),
                gap.getMessage());
        AcceptorException rewrite = assertThrows(AcceptorException.class,
                () -> send(append(1, START.plus(8), walBytes(8, 2), Lsn.INVALID)));
        assertTrue(rewrite.getMessage().contains("rewrites"), rewrite.getMessage());
    }

    @Test
    void appendsAreAcknowledgedOnlyAfterFlushAndOneFlushAnswersMany() {
        electedIn(1, history(1, "0/1000028"), START);
        replies.clear();
        Lsn at = START;
        for (int i = 0; i < 5; i++) {
            send(append(1, at, walBytes(64, i), Lsn.INVALID));
            at = at.plus(64);
        }
        assertTrue(replies.isEmpty(), "no AppendResponse before fsync");
        int flushes = wal.flushes.get();
        acceptor.flush(replies::add);
        assertEquals(flushes + 1, wal.flushes.get(), "one fsync for the batch");
        assertEquals(1, replies.size());
        AppendResponse response = assertInstanceOf(AppendResponse.class, lastReply());
        assertEquals(at, response.flushLsn());
        assertEquals(1, response.term());
    }

    @Test
    void commitLsnNeverExceedsFlushedWal() {
        electedIn(1, history(1, "0/1000028"), START);
        send(append(1, START, walBytes(100, 1), START.plus(1000)));
        acceptor.flush(replies::add);
        assertEquals(START.plus(100), assertInstanceOf(AppendResponse.class, lastReply()).commitLsn());
        send(append(1, START.plus(100), walBytes(100, 2), START.plus(150)));
        acceptor.flush(replies::add);
        assertEquals(START.plus(150), assertInstanceOf(AppendResponse.class, lastReply()).commitLsn());
    }

    @Test
    void electionOnAnEmptyAcceptorStartsAtTheFirstHistoryEntry() {
        electedIn(1, history(1, "0/1000028"), START);
        assertEquals(START, wal.writeLsn());
        assertEquals(history(1, "0/1000028"), states.state().termHistory());
        assertEquals(START, states.state().timelineStartLsn());
        assertThrows(AcceptorException.class, () -> {
            InMemoryStateStore s = new InMemoryStateStore(false);
            Acceptor a = new Acceptor(7, s, new InMemoryWalStore());
            a.handle(greeting(42), true, m -> { });
            a.handle(new VoteRequest(0, 1), true, m -> { });
            a.handle(new ProposerElected(0, 1, START.plus(8), history(1, "0/1000028")), true, m -> { });
        }, "start_streaming_at must equal the highest common point");
    }

    @Test
    void staleElectedIsIgnored() {
        electedIn(2, history(2, "0/1000028"), START);
        send(new VoteRequest(0, 5));
        int before = replies.size();
        send(new ProposerElected(0, 2, START, history(2, "0/1000028")));
        assertEquals(before, replies.size());
        assertEquals(5, states.state().term());
    }

    @Test
    void divergentWalIsTruncatedExactlyAtTheHighestCommonPointAndSurvivesReboot() {
        // Term 1 from START, term 2 from START+100; we hold 300 bytes, all flushed.
        electedIn(1, history(1, "0/1000028"), START);
        send(append(1, START, walBytes(100, 1), Lsn.INVALID));
        send(new VoteRequest(0, 2));
        send(new ProposerElected(0, 2, START.plus(100), history(1, "0/1000028", 2, "0/100008C")));
        send(append(2, START.plus(100), walBytes(200, 2), Lsn.INVALID));
        acceptor.flush(replies::add);
        assertEquals(START.plus(300), acceptor.flushLsn());

        // Term 3's proposer never saw term 2: its history is term 1 then 3 from START+150.
        // Common term 1 ends at min(150 in theirs, 100 in ours) = START+100.
        reboot();
        send(greeting(42));
        send(new VoteRequest(0, 3));
        TermHistory term3 = history(1, "0/1000028", 3, "0/10000BE");
        send(new ProposerElected(0, 3, START.plus(100), term3));
        assertEquals(START.plus(100), wal.writeLsn(), "truncated exactly at the common point");
        assertArrayEquals(walBytes(100, 1), wal.read(START));
        assertEquals(term3, states.state().termHistory());
        reboot();
        assertEquals(term3, states.state().termHistory(), "the installed history is durable");
        assertEquals(3, states.state().term());
    }

    @Test
    void committedWalIsNeverTruncated() {
        electedIn(1, history(1, "0/1000028"), START);
        send(append(1, START, walBytes(200, 1), START.plus(200)));
        acceptor.flush(replies::add);
        assertEquals(START.plus(200), acceptor.commitLsn());
        send(new VoteRequest(0, 2));
        // A (bogus) proposer that would cut at START+100, below commit.
        AcceptorException e = assertThrows(AcceptorException.class, () -> send(
                new ProposerElected(0, 2, START.plus(100), history(1, "0/1000028", 2, "0/100008C"))));
        assertTrue(e.getMessage().contains("commit"), e.getMessage());
        assertEquals(START.plus(200), wal.writeLsn());
    }

    /** Peer recovery: WAL of our term beyond our end, as the one proposer of that term would send it. */
    @Test
    void walRecoveredFromAPeerOfOurTermIsWrittenFlushedAndCommittedWithinOurFlush() {
        electedIn(1, history(1, "0/1000028"), START);
        send(append(1, START, walBytes(100, 1), START.plus(50)));
        acceptor.flush(replies::add);
        reboot(); // a node back after a crash: no proposer attached, no ProposerElected in this life
        replies.clear();

        acceptor.recovered(1, START.plus(100), ByteSlice.of(walBytes(200, 2)), START.plus(250));
        assertEquals(START.plus(300), wal.writeLsn());
        assertEquals(START.plus(100), acceptor.flushLsn(), "not flushed before the fsync");
        acceptor.flush(replies::add);
        assertEquals(START.plus(300), acceptor.flushLsn());
        assertEquals(START.plus(250), acceptor.commitLsn(), "the peer's commit LSN, within our flush");
        assertArrayEquals(walBytes(200, 2), wal.read(START.plus(100)));

        // A chunk that overlaps what we hold: only the new part is written.
        byte[] overlapping = walBytes(150, 2);
        Arrays.fill(overlapping, 100, 150, (byte) 3);
        acceptor.recovered(1, START.plus(200), ByteSlice.of(overlapping), START.plus(400));
        assertEquals(START.plus(350), wal.writeLsn());
        assertArrayEquals(walBytes(50, 3), wal.read(START.plus(300)));
        acceptor.flush(replies::add);
        assertEquals(START.plus(350), acceptor.commitLsn(), "commit capped by our flush, not the peer's 400");
        reboot();
        assertEquals(START.plus(350), acceptor.flushLsn(), "recovered WAL is durable");
    }

    private static Acceptor.Copy copy(long term, TermHistory history, Lsn limit, Lsn peerCommit) {
        return new Acceptor.Copy(ID, new ServerInfo(150018, 42, SEG), MembershipConfiguration.EMPTY, term, history,
                START, START, history.lastTerm(), limit, peerCommit, START);
    }

    /** Replacing a node: a copy is journaled first, then the peer's WAL comes, never beyond the limit. */
    @Test
    void aCopyIsJournaledBeforeItCountsAndTakesWalUpToItsLimit() {
        states = new InMemoryStateStore(true);
        acceptor = new Acceptor(7, states, wal);
        List<String> done = new ArrayList<>();
        acceptor.copied(copy(3, history(1, "0/1000028", 2, "0/1000078"), START.plus(300), START.plus(250)),
                () -> done.add("opened"), () -> done.add("durable"));
        assertEquals(List.of("opened"), done, "acknowledged only once journaled");
        states.makeDurable();
        assertEquals(List.of("opened", "durable"), done);
        assertEquals(3, acceptor.state().term());

        acceptor.recovered(2, START, ByteSlice.of(walBytes(200, 1)), START.plus(250));
        acceptor.recovered(2, START.plus(200), ByteSlice.of(walBytes(200, 2)), START.plus(250));
        assertEquals(START.plus(300), wal.writeLsn(), "nothing beyond the limit");
        acceptor.flush(replies::add);
        assertEquals(START.plus(300), acceptor.flushLsn());
        assertEquals(START.plus(250), acceptor.commitLsn());
        assertEquals(2, acceptor.state().lastLogTerm(acceptor.flushLsn()));
        assertThrows(AcceptorException.class, () -> acceptor.recovered(2, START.plus(301), ByteSlice.of(walBytes(1, 3)),
                Lsn.INVALID), "a gap");

        // A vote ends the copy; the node votes only above the term it journaled.
        send(new VoteRequest(0, 3));
        assertFalse(((VoteResponse) lastReply()).voteGiven());
        send(new VoteRequest(0, 4));
        states.makeDurable();
        VoteResponse granted = (VoteResponse) lastReply();
        assertTrue(granted.voteGiven());
        assertEquals(START.plus(300), granted.flushLsn());
        assertThrows(AcceptorException.class, () -> acceptor.recovered(2, START.plus(300), ByteSlice.of(walBytes(1, 3)),
                Lsn.INVALID), "no copied WAL once a vote changed the term");
        states.makeDurable();
        reboot();
        assertEquals(4, acceptor.state().term());
        assertEquals(START.plus(300), acceptor.flushLsn(), "the copied WAL is durable");
    }

    @Test
    void aCopyIsRefusedWhereTheTimelineIsPresentAndItsWalOfAnotherTerm() {
        send(greeting(42)); // a greeting alone leaves nothing a copy would overwrite
        assertFalse(acceptor.holdsTimeline());
        acceptor.copied(copy(2, history(2, "0/1000028"), START.plus(100), START), () -> { }, () -> { });
        assertTrue(acceptor.holdsTimeline());
        assertThrows(AcceptorException.class, () -> acceptor.copied(copy(2, history(2, "0/1000028"),
                START.plus(100), START), () -> { }, () -> { }));
        assertThrows(AcceptorException.class, () -> acceptor.recovered(1, START, ByteSlice.of(walBytes(10, 1)), Lsn.INVALID),
                "WAL of another term than the copied history's");

        reboot();
        InMemoryStateStore other = new InMemoryStateStore(false);
        Acceptor voted = new Acceptor(8, other, new InMemoryWalStore());
        voted.handle(greeting(42), true, m -> { });
        voted.handle(new VoteRequest(0, 1), true, m -> { });
        assertThrows(AcceptorException.class, () -> voted.copied(copy(2, history(2, "0/1000028"), START.plus(100),
                START), () -> { }, () -> { }), "a node that voted holds the timeline");
        Acceptor fresh = new Acceptor(9, new InMemoryStateStore(false), new InMemoryWalStore());
        assertThrows(AcceptorException.class, () -> fresh.copied(copy(1, history(2, "0/1000028"), START.plus(100),
                START), () -> { }, () -> { }), "a term below the history's");
    }

    @Test
    void recoveredWalIsRefusedOnAnotherTermAGapOrAPendingElection() {
        electedIn(2, history(2, "0/1000028"), START);
        send(append(2, START, walBytes(100, 1), Lsn.INVALID));
        acceptor.flush(replies::add);

        AcceptorException otherTerm = assertThrows(AcceptorException.class,
                () -> acceptor.recovered(1, START.plus(100), ByteSlice.of(walBytes(10, 2)), Lsn.INVALID));
        assertTrue(otherTerm.getMessage().contains("term"), otherTerm.getMessage());
        AcceptorException gap = assertThrows(AcceptorException.class,
                () -> acceptor.recovered(2, START.plus(101), ByteSlice.of(walBytes(10, 2)), Lsn.INVALID));
        assertTrue(gap.getMessage().contains("gap"), gap.getMessage());

        // Voted for term 3, not yet elected in it: its proposer decides where our WAL ends.
        send(new VoteRequest(0, 3));
        assertThrows(AcceptorException.class,
                () -> acceptor.recovered(2, START.plus(100), ByteSlice.of(walBytes(10, 2)), Lsn.INVALID));
        assertThrows(AcceptorException.class,
                () -> acceptor.recovered(3, START.plus(100), ByteSlice.of(walBytes(10, 2)), Lsn.INVALID));
        assertEquals(START.plus(100), wal.writeLsn(), "nothing written by a refusal");
    }

    @Test
    void appendsOfOurTermMayOverlapRecoveredWalButNothingElse() {
        electedIn(1, history(1, "0/1000028"), START);
        send(append(1, START, walBytes(100, 1), Lsn.INVALID));
        acceptor.recovered(1, START.plus(100), ByteSlice.of(walBytes(100, 2)), Lsn.INVALID);
        // The proposer streams from where it left us: the part already recovered is skipped.
        send(append(1, START.plus(100), walBytes(150, 2), Lsn.INVALID));
        assertEquals(START.plus(250), wal.writeLsn());
        send(append(1, START.plus(250), walBytes(10, 3), Lsn.INVALID));
        assertEquals(START.plus(260), wal.writeLsn());
        AcceptorException rewrite = assertThrows(AcceptorException.class,
                () -> send(append(1, START.plus(50), walBytes(10, 1), Lsn.INVALID)));
        assertTrue(rewrite.getMessage().contains("rewrites"), rewrite.getMessage());

        // A new election truncates to the common point: the overlap allowance ends with it.
        send(new VoteRequest(0, 2));
        send(new ProposerElected(0, 2, START.plus(260), history(1, "0/1000028", 2, "0/100012C")));
        assertThrows(AcceptorException.class, () -> send(append(2, START.plus(150), walBytes(10, 1), Lsn.INVALID)));
    }

    @Test
    void generationMismatchIsAnError() {
        send(greeting(42));
        assertThrows(AcceptorException.class, () -> send(new VoteRequest(1, 1)));
    }

    @Test
    void highestCommonPointCases() {
        Lsn flush = Lsn.parse("0/500");
        // No common term: stream from the proposer's first entry.
        assertEquals(Lsn.parse("0/100"), Acceptor.highestCommonPoint(history(2, "0/100"), history(1, "0/100"), flush));
        // The proposer's last term is shared: our flush.
        assertEquals(flush, Acceptor.highestCommonPoint(history(1, "0/100"), history(1, "0/100"), flush));
        // Shared term followed by different terms: the earlier next start.
        assertEquals(Lsn.parse("0/300"), Acceptor.highestCommonPoint(history(1, "0/100", 3, "0/300"),
                history(1, "0/100", 2, "0/400"), flush));
        assertEquals(Lsn.parse("0/200"), Acceptor.highestCommonPoint(history(1, "0/100", 3, "0/300"),
                history(1, "0/100", 2, "0/200"), flush));
        // Ours ends in the shared term, theirs continues: min(their next start, our flush).
        assertEquals(Lsn.parse("0/300"), Acceptor.highestCommonPoint(history(1, "0/100", 3, "0/300"),
                history(1, "0/100"), flush));
        // Same term at different LSNs is an inconsistency.
        assertThrows(AcceptorException.class,
                () -> Acceptor.highestCommonPoint(history(1, "0/100"), history(1, "0/200"), flush));
    }
}
