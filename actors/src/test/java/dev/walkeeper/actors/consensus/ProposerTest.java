package dev.walkeeper.actors.consensus;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.consensus.Proposer.NodeState;
import dev.walkeeper.actors.consensus.Proposer.Outbound;
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
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A {@link Proposer} driving three real {@link Acceptor}s over the in-memory fakes, through a
 * tiny synchronous network: messages are delivered at once, AppendResponses come when the test
 * flushes an acceptor (its group commit). Invariants are checked on every response: the commit
 * LSN never decreases and the truncate LSN never passes it.
 */
class ProposerTest {
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");
    private static final int SEG = 16 * 1024 * 1024;
    private static final Lsn BASEBACKUP = Lsn.parse("0/1000028");
    private static final int KIB = 1024;

    private final Network net = new Network(3);

    /** Acceptors, their fakes, which of them are reachable, and which proposer each answers. */
    private static final class Network {
        final InMemoryStateStore[] states;
        final InMemoryWalStore[] wals;
        final Acceptor[] acceptors;
        final boolean[] up;
        final Proposer[] connectedTo;
        final List<List<ProposerMessage>> delivered = new ArrayList<>();
        private final Map<Proposer, Lsn> lastCommit = new HashMap<>();

        Network(int size) {
            states = new InMemoryStateStore[size];
            wals = new InMemoryWalStore[size];
            acceptors = new Acceptor[size];
            up = new boolean[size];
            connectedTo = new Proposer[size];
            for (int n = 0; n < size; n++) {
                states[n] = new InMemoryStateStore(false);
                wals[n] = new InMemoryWalStore();
                acceptors[n] = new Acceptor(100 + n, states[n], wals[n]);
                up[n] = true;
                delivered.add(new ArrayList<>());
            }
        }

        /** The proposer greets everyone; unreachable nodes are reported disconnected to it. */
        void start(Proposer p) {
            List<Outbound> greetings = p.greetings();
            for (int n = 0; n < up.length; n++) {
                if (!up[n]) {
                    p.nodeDisconnected(n);
                }
            }
            send(p, greetings);
        }

        /** Delivers messages to reachable acceptors and their answers back to {@code p}, until quiet. */
        void send(Proposer p, List<Outbound> messages) {
            ArrayDeque<Outbound> queue = new ArrayDeque<>(messages);
            while (!queue.isEmpty()) {
                Outbound o = queue.poll();
                for (AcceptorMessage reply : deliverOnly(p, o)) {
                    queue.addAll(dispatch(p, o.node(), reply));
                }
            }
        }

        /** Delivers one message; returns the acceptor's immediate replies without passing them on. */
        List<AcceptorMessage> deliverOnly(Proposer p, Outbound o) {
            List<AcceptorMessage> replies = new ArrayList<>();
            int n = o.node();
            if (up[n]) {
                connectedTo[n] = p;
                delivered.get(n).add(o.message());
                acceptors[n].handle(o.message(), true, replies::add);
            }
            return replies;
        }

        List<Outbound> dispatch(Proposer p, int node, AcceptorMessage reply) {
            if (reply instanceof AcceptorGreeting g) {
                return p.onAcceptorGreeting(node, g);
            }
            if (reply instanceof VoteResponse v) {
                return p.onVoteResponse(node, v);
            }
            p.onAppendResponse(node, (AppendResponse) reply);
            Lsn before = lastCommit.getOrDefault(p, Lsn.INVALID);
            assertTrue(p.commitLsn().compareTo(before) >= 0, "commit LSN went back from " + before + " to " + p.commitLsn());
            assertTrue(p.truncateLsn().compareTo(Lsn.max(p.commitLsn(), p.termStartLsn())) <= 0,
                    "truncate LSN " + p.truncateLsn() + " beyond commit LSN " + p.commitLsn());
            lastCommit.put(p, p.commitLsn());
            return List.of();
        }

        /** Group commit on the given acceptors: fsync, AppendResponses to their proposer, and what follows. */
        boolean flush(int... nodes) {
            boolean any = false;
            for (int n : nodes) {
                if (!up[n]) {
                    continue;
                }
                List<AcceptorMessage> replies = new ArrayList<>();
                acceptors[n].flush(replies::add);
                Proposer p = connectedTo[n];
                for (AcceptorMessage reply : replies) {
                    any = true;
                    send(p, dispatch(p, n, reply));
                }
            }
            return any;
        }

        /**
         * Flushes every reachable acceptor until no more responses come, and tells the nodes the
         * commit LSN (as the bridge does shortly after an advance).
         */
        void settle() {
            int[] all = new int[up.length];
            for (int n = 0; n < all.length; n++) {
                all[n] = n;
            }
            for (int round = 0; flush(all) || sendCommitUpdates(); round++) {
                assertTrue(round < 100, "the network does not settle");
            }
        }

        private boolean sendCommitUpdates() {
            boolean any = false;
            for (Proposer p : new LinkedHashSet<>(Arrays.asList(connectedTo))) {
                if (p != null && !p.steppedDown()) {
                    List<Outbound> updates = p.commitUpdates();
                    any |= !updates.isEmpty();
                    send(p, updates);
                }
            }
            return any;
        }

        /** The node is cut off from {@code p} (no crash: its unflushed WAL stays). */
        void partition(Proposer p, int node) {
            up[node] = false;
            p.nodeDisconnected(node);
        }

        /** The node crashes: on restart it has only what was durable. */
        void crash(Proposer p, int node) {
            up[node] = false;
            p.nodeDisconnected(node);
            states[node] = states[node].reboot();
            wals[node] = wals[node].reboot();
            acceptors[node] = new Acceptor(100 + node, states[node], wals[node]);
        }

        /** The node is reachable again and {@code p} reconnects to it. */
        void reconnect(Proposer p, int node) {
            up[node] = true;
            send(p, p.nodeReconnected(node));
        }

        List<ProposerMessage> deliveredSince(int node, int from) {
            List<ProposerMessage> all = delivered.get(node);
            return new ArrayList<>(all.subList(from, all.size()));
        }
    }

    private static Proposer proposer() {
        return new Proposer(ID, 150018, 42, SEG, 3, BASEBACKUP);
    }

    /** Distinct bytes per seed and position, so misplaced WAL shows. */
    private static byte[] wal(int length, int seed) {
        byte[] b = new byte[length];
        for (int i = 0; i < length; i++) {
            b[i] = (byte) (seed * 31 + i * 7 + (i >> 8));
        }
        return b;
    }

    /** Appends {@code pieces} pieces of {@code size} bytes from the proposer's end of WAL; returns the new end. */
    private Lsn append(Proposer p, int pieces, int size, int seed) {
        for (int i = 0; i < pieces; i++) {
            net.send(p, p.append(p.endOfWal(), ByteSlice.of(wal(size, seed + i))));
        }
        return p.endOfWal();
    }

    private static TermHistory history(Object... termLsnPairs) {
        List<TermSwitch> entries = new ArrayList<>();
        for (int i = 0; i < termLsnPairs.length; i += 2) {
            entries.add(new TermSwitch(((Number) termLsnPairs[i]).longValue(), (Lsn) termLsnPairs[i + 1]));
        }
        return new TermHistory(entries);
    }

    /** Every acceptor holds the same WAL from the timeline start up to {@code end}. */
    private void assertSameWal(Lsn end, int... nodes) {
        byte[] reference = net.wals[nodes[0]].read(BASEBACKUP, end);
        for (int n : nodes) {
            assertTrue(net.wals[n].flushRecordLsn().compareTo(end) >= 0, "node " + n + " has flushed up to " + end);
            assertArrayEquals(reference, net.wals[n].read(BASEBACKUP, end), "node " + n + "'s WAL up to " + end);
        }
    }

    @Test
    void aBrandNewTimelineElectsTermOneStartingAtTheBasebackupLsn() {
        Proposer p = proposer();
        net.start(p);

        assertTrue(p.elected());
        assertEquals(1, p.term());
        assertEquals(BASEBACKUP, p.termStartLsn());
        assertEquals(history(1, BASEBACKUP), p.termHistory());
        for (int n = 0; n < 3; n++) {
            ProposerElected elected = assertInstanceOf(ProposerElected.class, net.delivered.get(n).get(2));
            assertEquals(BASEBACKUP, elected.startStreamingAt());
            assertEquals(1, net.states[n].state().term());
            assertEquals(p.termHistory(), net.states[n].state().termHistory());
            assertEquals(BASEBACKUP, net.wals[n].writeLsn());
            assertEquals(new Proposer.NodeStatus(NodeState.STREAMING, 100 + n, Lsn.INVALID, BASEBACKUP, BASEBACKUP), p.nodeStatus(n));
        }
        assertThrows(IllegalStateException.class, p::greetings, "the campaign starts once");
    }

    @Test
    void nothingIsSentBeforeAMajorityGreetedAndAppendsWaitForTheElection() {
        Proposer p = proposer();
        List<Outbound> greetings = p.greetings();
        assertEquals(3, greetings.size());
        List<Outbound> afterOne = p.onAcceptorGreeting(0, new AcceptorGreeting(100, MembershipConfiguration.EMPTY, 4));
        assertTrue(afterOne.isEmpty(), "one greeting is no majority");
        assertEquals(0, p.term());
        assertThrows(IllegalStateException.class, () -> p.append(BASEBACKUP, ByteSlice.of(wal(10, 1))));
        List<Outbound> afterTwo = p.onAcceptorGreeting(2, new AcceptorGreeting(102, MembershipConfiguration.EMPTY, 7));
        assertEquals(8, p.term(), "max greeted term + 1");
        assertEquals(List.of(0, 2), afterTwo.stream().map(Outbound::node).toList());
        assertEquals(NodeState.GREETING, p.nodeStatus(1).state());
        assertEquals(NodeState.VOTING, p.nodeStatus(0).state());
    }

    @Test
    void aNodeWithAnInconsistentHistoryIsRefusedAndNothingChanges() {
        Proposer p = proposer();
        p.greetings();
        p.onAcceptorGreeting(0, new AcceptorGreeting(100, MembershipConfiguration.EMPTY, 1));
        p.onAcceptorGreeting(1, new AcceptorGreeting(101, MembershipConfiguration.EMPTY, 1));
        Lsn end = BASEBACKUP.plus(100);
        p.onVoteResponse(0, new VoteResponse(0, 2, true, end, BASEBACKUP, history(1, BASEBACKUP)));
        // Term 1 cannot start elsewhere in node 1's log.
        VoteResponse bogus = new VoteResponse(0, 2, true, end, BASEBACKUP, history(1, BASEBACKUP.plus(8)));
        assertThrows(IllegalStateException.class, () -> p.onVoteResponse(1, bogus));
        assertFalse(p.elected());
        p.nodeDisconnected(1);
        p.onAcceptorGreeting(2, new AcceptorGreeting(102, MembershipConfiguration.EMPTY, 0));
        List<Outbound> out = p.onVoteResponse(2, new VoteResponse(0, 2, true, Lsn.INVALID, Lsn.INVALID,
                TermHistory.EMPTY));
        assertTrue(p.elected());
        assertEquals(history(1, BASEBACKUP, 2, end), p.termHistory());
        assertEquals(List.of(0, 2), out.stream().map(Outbound::node).toList());
        assertEquals(BASEBACKUP, ((ProposerElected) out.get(1).message()).startStreamingAt(), "node 2 has nothing");
    }

    @Test
    void commitAdvancesOnlyWhenAMajorityFlushed() {
        Proposer p = proposer();
        net.start(p);
        Lsn end = append(p, 3, 1000, 1);
        assertEquals(Lsn.INVALID, p.commitLsn(), "written, not flushed anywhere");

        net.flush(0);
        assertEquals(Lsn.INVALID, p.commitLsn(), "one of three flushed");
        assertEquals(end, p.nodeStatus(0).flushLsn());

        int before = net.delivered.get(2).size();
        net.flush(1);
        assertEquals(end, p.commitLsn(), "two of three flushed");
        assertEquals(before, net.delivered.get(2).size(), "the advance waits for the next AppendRequest");
        List<Outbound> updates = p.commitUpdates();
        assertEquals(3, updates.size(), "or goes to everyone that has not seen it");
        for (Outbound o : updates) {
            AppendRequest beat = assertInstanceOf(AppendRequest.class, o.message());
            assertTrue(beat.isHeartbeat());
            assertEquals(end, beat.commitLsn());
        }
        net.send(p, updates);
        assertEquals(List.of(), p.commitUpdates(), "each node is told once");
        assertEquals(BASEBACKUP, p.truncateLsn(), "node 2 has not flushed: its WAL is still needed");

        net.settle();
        assertEquals(end, p.truncateLsn(), "all flushed: min(min flush, commit)");
        for (int n = 0; n < 3; n++) {
            assertEquals(end, net.acceptors[n].commitLsn(), "node " + n + " learnt the commit LSN");
        }
        assertSameWal(end, 0, 1, 2);
        List<Outbound> beats = p.heartbeat();
        assertEquals(3, beats.size());
        for (Outbound o : beats) {
            AppendRequest a = assertInstanceOf(AppendRequest.class, o.message());
            assertTrue(a.isHeartbeat());
            assertEquals(end, a.beginLsn());
            assertEquals(end, a.commitLsn());
            assertEquals(end, a.truncateLsn());
        }
    }

    @Test
    void aMinorityDownDoesNotStopCommitsAndALateNodeIsElectedAndCaughtUp() {
        net.up[2] = false;
        Proposer p = proposer();
        net.start(p);
        assertTrue(p.elected(), "two of three vote");
        assertEquals(NodeState.DISCONNECTED, p.nodeStatus(2).state());

        Lsn end = append(p, 4, 3000, 1);
        net.settle();
        assertEquals(end, p.commitLsn());
        assertEquals(BASEBACKUP, p.truncateLsn(), "node 2 has nothing: truncate stays");

        // Node 2 comes up in term 0, so it grants the vote, and is elected into term 1 from the start.
        int before = net.delivered.get(2).size();
        net.reconnect(p, 2);
        ProposerElected elected = assertInstanceOf(ProposerElected.class, net.delivered.get(2).get(before + 2));
        assertEquals(1, elected.term());
        assertEquals(BASEBACKUP, elected.startStreamingAt());
        assertEquals(NodeState.STREAMING, p.nodeStatus(2).state());
        net.settle();
        assertSameWal(end, 0, 1, 2);
        assertEquals(end, p.nodeStatus(2).flushLsn());
        assertEquals(end, p.truncateLsn());
    }

    @Test
    void withAMajorityDownCommitsStopAndResumeWhenOneComesBack() {
        Proposer p = proposer();
        net.start(p);
        Lsn committed = append(p, 2, 500, 1);
        net.settle();
        assertEquals(committed, p.commitLsn());

        net.partition(p, 1);
        net.partition(p, 2);
        Lsn end = append(p, 3, 500, 10);
        net.settle();
        assertEquals(committed, p.commitLsn(), "one of three has flushed " + end);
        assertEquals(end, net.wals[0].flushRecordLsn());
        assertEquals(committed, net.acceptors[0].commitLsn());

        // Node 1 is back (it never crashed): it already holds term 1, refuses the vote, and is
        // elected into the same term at its own flush LSN, then caught up from the buffer.
        int before = net.delivered.get(1).size();
        net.reconnect(p, 1);
        ProposerElected elected = assertInstanceOf(ProposerElected.class, net.delivered.get(1).get(before + 2));
        assertEquals(committed, elected.startStreamingAt());
        net.settle();
        assertEquals(end, p.commitLsn());
        assertSameWal(end, 0, 1);
    }

    @Test
    void aRestartedNodeRejoinsIsElectedIntoTheCurrentTermAndCatchesUpFromTheBuffer() {
        Proposer p = proposer();
        net.start(p);
        Lsn w1 = append(p, 1, 10 * KIB, 1);
        net.settle();
        // W2 reaches node 2 but is fsynced only on 0 and 1; node 2 then crashes and loses it.
        Lsn w2 = append(p, 1, 50 * KIB, 2);
        net.flush(0, 1);
        assertEquals(w2, p.commitLsn());
        net.crash(p, 2);
        assertEquals(w1, net.wals[2].writeLsn(), "the reboot kept only flushed WAL");
        Lsn w3 = append(p, 3, 100 * KIB, 3);
        net.settle();
        assertEquals(w3, p.commitLsn());

        int before = net.delivered.get(2).size();
        net.reconnect(p, 2);
        List<ProposerMessage> got = net.deliveredSince(2, before);
        ProposerElected elected = assertInstanceOf(ProposerElected.class, got.get(2));
        assertEquals(1, elected.term(), "elected into the current term");
        assertEquals(w1, elected.startStreamingAt(), "from its own flush LSN");
        Lsn at = w1;
        for (ProposerMessage m : got.subList(3, got.size())) {
            AppendRequest a = assertInstanceOf(AppendRequest.class, m);
            assertEquals(at, a.beginLsn(), "catch-up is contiguous");
            assertTrue(a.wal().length() <= 128 * KIB);
            at = a.endLsn();
        }
        assertEquals(w3, at, "caught up to the end of WAL from the buffer");
        assertTrue(got.size() - 3 >= 3, "350 KiB take at least three messages");

        Lsn w4 = append(p, 1, 5 * KIB, 4);
        net.settle();
        assertEquals(w4, p.commitLsn());
        assertSameWal(w4, 0, 1, 2);
        assertEquals(NodeState.STREAMING, p.nodeStatus(2).state());
    }

    @Test
    void aNodeFurtherBehindThanTheBufferIsMarkedBehindAndSkipped() {
        Proposer p = new Proposer(ID, 150018, 42, SEG, 3, BASEBACKUP, 64 * KIB, Proposer.UNLIMITED_WINDOW);
        net.start(p);
        Lsn old = append(p, 1, 8 * KIB, 1);
        net.settle();
        net.partition(p, 2);
        append(p, 10, 16 * KIB, 2);
        net.settle();
        assertTrue(p.bufferStart().compareTo(old) > 0, "the buffer dropped what node 2 misses");

        net.reconnect(p, 2);
        assertEquals(NodeState.BEHIND, p.nodeStatus(2).state());
        assertEquals(old, p.nodeStatus(2).streamingAt());
        assertEquals(old, net.wals[2].writeLsn(), "no WAL sent");

        Lsn end = append(p, 2, 16 * KIB, 20);
        net.settle();
        assertEquals(end, p.commitLsn(), "the quorum goes on");
        assertEquals(old, net.wals[2].writeLsn(), "still skipped");
        assertEquals(NodeState.BEHIND, p.nodeStatus(2).state());
        assertEquals(old, p.truncateLsn(), "node 2 still needs WAL from " + old);
        assertEquals(old, net.acceptors[2].commitLsn(), "heartbeats reach it; its commit stays within its WAL");
    }

    @Test
    void aBehindNodeThatRecoveredFromAPeerIsStreamedToAgainFromItsFlush() {
        Proposer p = new Proposer(ID, 150018, 42, SEG, 3, BASEBACKUP, 64 * KIB, Proposer.UNLIMITED_WINDOW);
        net.start(p);
        Lsn old = append(p, 1, 8 * KIB, 1);
        net.settle();
        net.partition(p, 2);
        append(p, 10, 16 * KIB, 2);
        net.settle();
        net.reconnect(p, 2);
        assertEquals(NodeState.BEHIND, p.nodeStatus(2).state());
        net.send(p, p.heartbeat());
        assertEquals(NodeState.BEHIND, p.nodeStatus(2).state(), "its flush is still out of the buffer");

        // Node 2 fetches node 0's WAL of term 1 past the buffer start, as peer recovery does.
        Lsn recovered = new Lsn(p.endOfWal().value() - 16 * KIB);
        assertTrue(recovered.compareTo(p.bufferStart()) > 0);
        net.acceptors[2].recovered(1, old, ByteSlice.of(net.wals[0].read(old, recovered)), p.commitLsn());
        net.flush(2);
        assertEquals(recovered, p.nodeStatus(2).flushLsn(), "its AppendResponse told the proposer");

        net.send(p, p.heartbeat());
        assertEquals(NodeState.STREAMING, p.nodeStatus(2).state());
        Lsn end = append(p, 1, 8 * KIB, 30);
        net.settle();
        assertEquals(end, net.acceptors[2].flushLsn());
        assertSameWal(end, 0, 1, 2);
    }

    @Test
    void theSendWindowHoldsACatchUpUntilTheSocketReportsWrittenAndASlowNodeEndsBehind() {
        Proposer p = new Proposer(ID, 150018, 42, SEG, 3, BASEBACKUP, 96 * KIB, 16 * KIB);
        net.start(p);
        Lsn start = appendKeepingUp(p, 1, 1, 0, 1, 2);
        net.settle();
        net.partition(p, 2);
        Lsn end = appendKeepingUp(p, 8, 2, 0, 1);
        net.settle();
        assertEquals(end, p.commitLsn());
        assertEquals(end, p.quorumWrittenLsn(), "nodes 0 and 1 took everything");

        int before = net.delivered.get(2).size();
        net.reconnect(p, 2);
        assertEquals(start, p.nodeStatus(2).writtenLsn(), "nothing in flight at its start");
        assertEquals(start.plus(16 * KIB), p.nodeStatus(2).streamingAt(), "one window sent, the rest waits");
        assertEquals(NodeState.ELECTED, p.nodeStatus(2).state());
        net.send(p, p.onWritten(2, start.plus(8 * KIB)));
        assertEquals(start.plus(24 * KIB), p.nodeStatus(2).streamingAt(), "the window moved by what was written");
        long sent = net.deliveredSince(2, before).stream()
                .filter(m -> m instanceof AppendRequest a && a.wal().length() > 0).count();
        assertEquals(2, sent, "a window's worth, then what was written");
        assertThrows(IllegalArgumentException.class, () -> p.onWritten(2, end), "written beyond what was sent");

        // Node 2's socket stalls while the primary goes on: its position leaves the buffer.
        Lsn later = appendKeepingUp(p, 16, 20, 0, 1);
        net.settle();
        assertEquals(later, p.commitLsn(), "the quorum goes on");
        assertEquals(start.plus(24 * KIB), p.nodeStatus(2).streamingAt());
        net.send(p, p.onWritten(2, start.plus(24 * KIB)));
        assertEquals(NodeState.BEHIND, p.nodeStatus(2).state(), "its position left the buffer");

        append(p, 1, 8 * KIB, 40);
        assertEquals(later, p.quorumWrittenLsn(), "sent, but no socket of the majority reported it written");
    }

    /** Appends 8 KiB pieces; after each, the given nodes' sockets take everything sent to them. */
    private Lsn appendKeepingUp(Proposer p, int pieces, int seed, int... keepingUp) {
        for (int i = 0; i < pieces; i++) {
            append(p, 1, 8 * KIB, seed + i);
            for (int n : keepingUp) {
                while (p.nodeStatus(n).writtenLsn().compareTo(p.nodeStatus(n).streamingAt()) < 0) {
                    net.send(p, p.onWritten(n, p.nodeStatus(n).streamingAt()));
                }
            }
        }
        return p.endOfWal();
    }

    @Test
    void aSecondProposerWithAHigherTermMakesTheFirstStepDown() {
        Proposer first = proposer();
        net.start(first);
        Lsn end = append(first, 2, 1000, 1);
        net.settle();

        Proposer second = proposer();
        net.start(second);
        assertEquals(2, second.term());
        assertEquals(end, second.termStartLsn(), "the donor's flush LSN");
        assertEquals(history(1, BASEBACKUP, 2, end), second.termHistory());

        ProposerSteppedDown e = assertThrows(ProposerSteppedDown.class,
                () -> net.send(first, first.append(end, ByteSlice.of(wal(100, 9)))));
        assertEquals(2, e.term(), "the next AppendResponse carries the higher term");
        assertTrue(first.steppedDown());
        assertThrows(ProposerSteppedDown.class, first::heartbeat, "a stepped-down proposer stays down");
        assertEquals(end, net.wals[0].writeLsn(), "nothing of the old term written");

        Lsn next = append(second, 1, 700, 5);
        net.settle();
        assertEquals(next, second.commitLsn());
        assertSameWal(next, 0, 1, 2);
    }

    @Test
    void aVoteRefusedInOurTermBeforeTheElectionStepsDown() {
        Proposer first = proposer();
        Proposer second = proposer();
        List<AcceptorMessage> toFirst = new ArrayList<>();
        List<AcceptorMessage> toSecond = new ArrayList<>();
        for (Outbound o : first.greetings()) {
            toFirst.addAll(net.deliverOnly(first, o));
        }
        for (Outbound o : second.greetings()) {
            toSecond.addAll(net.deliverOnly(second, o));
        }
        List<Outbound> firstVotes = new ArrayList<>();
        List<Outbound> secondVotes = new ArrayList<>();
        for (int n = 0; n < 3; n++) {
            firstVotes.addAll(net.dispatch(first, n, toFirst.get(n)));
            secondVotes.addAll(net.dispatch(second, n, toSecond.get(n)));
        }
        assertEquals(1, first.term());
        assertEquals(1, second.term(), "both picked term 1");
        // Nodes 1 and 2 vote for the second proposer first: it wins term 1.
        net.send(second, secondVotes.subList(1, 3));
        assertTrue(second.elected());
        // The first gets node 0's vote, then node 1's refusal in term 1: that term is taken.
        net.send(first, firstVotes.subList(0, 1));
        assertFalse(first.elected());
        ProposerSteppedDown e = assertThrows(ProposerSteppedDown.class, () -> net.send(first, firstVotes.subList(1, 2)));
        assertEquals(1, e.term());
        assertEquals(1, e.node());
    }

    @Test
    void reElectionAfterAProposerRestartStartsAtTheDonorAndTruncatesADivergentNode() {
        // Term 1: W1 committed everywhere; W2 then reaches node 0 only, flushed there, never committed.
        Proposer p1 = proposer();
        net.start(p1);
        Lsn w1 = append(p1, 1, 1000, 1);
        net.settle();
        net.partition(p1, 1);
        net.partition(p1, 2);
        Lsn w2 = append(p1, 1, 1000, 2);
        net.settle();
        assertEquals(w1, p1.commitLsn());
        assertEquals(w2, net.wals[0].flushRecordLsn());

        // p1 dies. p2 reaches nodes 1 and 2 only: term 2 starts at their flush; W3 is committed there.
        net.up[0] = false;
        net.up[1] = true;
        net.up[2] = true;
        Proposer p2 = proposer();
        net.start(p2);
        assertEquals(2, p2.term());
        assertEquals(w1, p2.termStartLsn());
        Lsn w3 = append(p2, 2, 1000, 3);
        net.settle();
        assertEquals(w3, p2.commitLsn());

        // p2 dies. p3 reaches all three: node 1 or 2 is the donor (last log term 2 beats node 0's
        // longer log of term 1); node 0's W2 diverges and is cut at the end of common term 1.
        net.up[0] = true;
        Proposer p3 = proposer();
        net.start(p3);
        assertEquals(3, p3.term());
        assertEquals(w3, p3.termStartLsn(), "the donor's flush LSN");
        assertEquals(history(1, BASEBACKUP, 2, w1, 3, w3), p3.termHistory());
        assertEquals(w1, net.wals[0].writeLsn(), "node 0 truncated at the highest common point");
        assertEquals(new Proposer.NodeStatus(NodeState.ELECTED, 100, Lsn.INVALID, w1, w1), p3.nodeStatus(0));
        assertEquals(NodeState.STREAMING, p3.nodeStatus(1).state());
        for (int n = 0; n < 3; n++) {
            assertEquals(p3.termHistory(), net.states[n].state().termHistory());
        }

        // The bridge re-reads from the primary the WAL node 0 lacks (what the donor has), then goes on.
        net.send(p3, p3.append(w1, ByteSlice.of(net.wals[1].read(w1, w3))));
        assertEquals(NodeState.STREAMING, p3.nodeStatus(0).state());
        Lsn w4 = append(p3, 1, 500, 4);
        net.settle();
        assertEquals(w4, p3.commitLsn());
        assertSameWal(w4, 0, 1, 2);
        assertArrayEquals(wal(1000, 3), net.wals[0].read(w1, w1.plus(1000)), "node 0 now has term 2's WAL, not W2");
        for (int n = 0; n < 3; n++) {
            assertEquals(w4, net.acceptors[n].commitLsn());
        }
    }

    @Test
    void commitCountsOnlyFlushesThatReachedTheTermStart() {
        // Node 0 is elected below the term start and catches up; its flush below the start does not count.
        Proposer p1 = proposer();
        net.start(p1);
        Lsn w1 = append(p1, 1, 1000, 1);
        net.settle();
        net.partition(p1, 0);
        Lsn w2 = append(p1, 1, 1000, 2);
        net.settle();
        assertEquals(w2, p1.commitLsn());

        Proposer p2 = proposer();
        net.up[0] = true;
        net.start(p2);
        assertEquals(w2, p2.termStartLsn());
        assertEquals(w1, p2.nodeStatus(0).streamingAt());
        net.partition(p2, 2);
        net.flush(0, 1);
        assertEquals(w1, p2.nodeStatus(0).flushLsn());
        assertEquals(w2, p2.nodeStatus(1).flushLsn());
        assertEquals(Lsn.INVALID, p2.commitLsn(), "node 0's flush " + w1 + " is below the term start: not counted");
        net.send(p2, p2.append(w1, ByteSlice.of(net.wals[1].read(w1, w2))));
        net.flush(0);
        assertEquals(w2, p2.commitLsn(), "nodes 0 and 1 both reached the term start");
    }
}
