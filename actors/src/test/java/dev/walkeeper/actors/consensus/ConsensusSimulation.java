package dev.walkeeper.actors.consensus;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A deterministic simulation of the consensus rules: the pure {@link Acceptor}s and
 * {@link Proposer}s, driven by one {@link SplittableRandom}, over a simulated network. Each step
 * does one thing chosen at random: deliver the next message of some connection (connections are
 * FIFO, as TCP, so any order across connections and any delay arise), flush an acceptor's WAL,
 * append WAL at a proposer, send heartbeats or commit updates, drop a connection (the messages in
 * flight are lost), reconnect one, crash an acceptor (unflushed WAL and journal writes of the
 * command under way are lost) or restart it, start a competing proposer (it picks a higher term),
 * kill one, partition the nodes or heal the partition. After every step the invariants are
 * checked ({@link #checkInvariants}); a violation throws {@link AssertionError}, with the last
 * steps in the message.
 */
final class ConsensusSimulation {
    static final Lsn BASE = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");
    private static final int PG_VERSION = 150018;
    private static final long SYSTEM_ID = 7000000000000000001L;

    final SplittableRandom random;
    final int nodeCount;
    final int quorum;
    private final int walSegSize;
    private final int maxLiveProposers;
    final SimNode[] nodes;
    final List<SimProposer> live = new ArrayList<>();
    int proposersStarted;
    private final SimNetwork network;
    private final Map<Long, Integer> electedByTerm = new HashMap<>();
    /** The WAL from BASE that some proposer reported committed, the longest such claim. */
    private byte[] committed = new byte[0];
    private int committedLength;
    private final ArrayDeque<String> trace = new ArrayDeque<>();
    private int step;
    /** Statistics, for the test's report and to show that runs do something. */
    int elections;
    int crashes;

    /** One acceptor node: the pure acceptor over a journal fake and the simulated WAL. */
    final class SimNode {
        final int index;
        boolean up = true;
        InMemoryStateStore journal = new InMemoryStateStore(true);
        SimWalStore wal = new SimWalStore();
        Acceptor acceptor;
        /** The connection of the proposer elected through it: flush responses go there. */
        SimNetwork.Conn streaming;
        /** The highest term this node answered a vote for: must survive every crash. */
        long votedTermAnswered;
        /** How many bytes of its flushed WAL are known to equal the committed WAL. */
        int agreed;

        SimNode(int index) {
            this.index = index;
            this.acceptor = new Acceptor(100 + index, journal, wal);
        }
    }

    /** A proposer with the WAL its primary would have: the donor's WAL up to the term start, then what it appended. */
    final class SimProposer {
        final int id;
        final Proposer proposer;
        final SimNetwork.Conn[] conns;
        /** The WAL snapshot that came with each node's counted vote on its current connection. */
        final byte[][] voteWal;
        final VoteResponse[] votes;
        byte[] primary = new byte[0];
        int primaryLength;
        /** How much of its WAL is known to equal the committed WAL. */
        int agreed;
        boolean wasElected;
        boolean dead;
        int side;

        SimProposer(int id, Proposer proposer) {
            this.id = id;
            this.proposer = proposer;
            this.conns = new SimNetwork.Conn[nodeCount];
            this.voteWal = new byte[nodeCount][];
            this.votes = new VoteResponse[nodeCount];
        }

        Lsn primaryEnd() {
            return BASE.plus(primaryLength);
        }

        void appendPrimary(byte[] data) {
            if (primaryLength + data.length > primary.length) {
                primary = Arrays.copyOf(primary, Math.max(2 * primary.length, primaryLength + data.length));
            }
            System.arraycopy(data, 0, primary, primaryLength, data.length);
            primaryLength += data.length;
        }
    }

    ConsensusSimulation(long seed) {
        this.random = new SplittableRandom(seed);
        this.nodeCount = random.nextBoolean() ? 3 : 5;
        this.quorum = nodeCount / 2 + 1;
        // Small segments make the acceptor journal its horizons often (it does so per segment).
        this.walSegSize = random.nextBoolean() ? 4096 : 16 * 1024 * 1024;
        this.maxLiveProposers = 2 + random.nextInt(2);
        this.nodes = new SimNode[nodeCount];
        for (int i = 0; i < nodeCount; i++) {
            nodes[i] = new SimNode(i);
        }
        this.network = new SimNetwork(this);
    }

    /** Runs {@code steps} steps; throws {@link AssertionError} at the first invariant violated. */
    void run(int steps) {
        startProposer();
        for (step = 0; step < steps; step++) {
            try {
                network.step();
                checkInvariants();
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("step " + step + ": " + e.getMessage() + lastSteps(), e);
            }
        }
    }

    String lastSteps() {
        return "\nlast steps:\n" + String.join("\n", trace);
    }

    void trace(String what) {
        if (trace.size() == 40) {
            trace.removeFirst();
        }
        trace.addLast(step + ": " + what);
    }

    // ---------------------------------------------------------------- proposers

    void startProposer() {
        if (live.size() >= maxLiveProposers) {
            return;
        }
        // A small buffer and send window now and then, so nodes fall BEHIND and windows fill.
        long buffer = random.nextInt(4) == 0 ? 1 + random.nextInt(3000) : Proposer.DEFAULT_BUFFER_BYTES;
        long window = random.nextInt(4) == 0 ? 1 + random.nextInt(2000) : Proposer.UNLIMITED_WINDOW;
        SimProposer p = new SimProposer(proposersStarted++, new Proposer(ID, PG_VERSION, SYSTEM_ID, walSegSize,
                nodeCount, BASE, buffer, window));
        p.side = network.randomSide();
        live.add(p);
        trace("proposer " + p.id + " starts (buffer " + buffer + ", window " + window + ")");
        network.greetAll(p);
    }

    void kill(SimProposer p, String why) {
        p.dead = true;
        live.remove(p);
        for (int i = 0; i < nodeCount; i++) {
            network.close(p, i);
        }
        trace("proposer " + p.id + " ends: " + why);
    }

    /** After every input to a proposer: its election and its commit LSN are checked and recorded. */
    void afterProposerInput(SimProposer p) {
        if (p.dead) {
            return;
        }
        Proposer proposer = p.proposer;
        if (proposer.elected() && !p.wasElected) {
            p.wasElected = true;
            elections++;
            Integer other = electedByTerm.putIfAbsent(proposer.term(), p.id);
            if (other != null) {
                throw new AssertionError("proposers " + other + " and " + p.id + " both elected in term "
                        + proposer.term());
            }
            takeDonorWal(p);
            trace("proposer " + p.id + " elected in term " + proposer.term() + " at " + proposer.termStartLsn()
                    + ", history " + proposer.termHistory());
        }
        if (p.wasElected) {
            recordCommit(p);
        }
    }

    /**
     * The primary of an elected proposer holds the donor's WAL up to the term start (it is what
     * the bridge re-reads to feed nodes elected lower). The donor is the voter whose flush is the
     * term start and whose history is ours without our term; every such voter must hold the same
     * WAL.
     */
    private void takeDonorWal(SimProposer p) {
        Lsn start = p.proposer.termStartLsn();
        TermHistory history = p.proposer.termHistory();
        TermHistory donorHistory = new TermHistory(history.entries().subList(0, history.entries().size() - 1));
        byte[] donorWal = null;
        for (int i = 0; i < nodeCount; i++) {
            VoteResponse v = p.votes[i];
            if (v == null || !v.history().upTo(v.flushLsn()).equals(donorHistory)
                    || !(v.flushLsn().equals(start) || !v.flushLsn().isValid() && start.equals(BASE))) {
                continue;
            }
            if (donorWal == null) {
                donorWal = p.voteWal[i];
            } else if (!Arrays.equals(donorWal, p.voteWal[i])) {
                throw new AssertionError("two voters with history " + donorHistory + " and flush " + start
                        + " hold different WAL");
            }
        }
        if (donorWal == null) {
            throw new IllegalStateException("no donor among the votes of proposer " + p.id);
        }
        if (BASE.plus(donorWal.length).compareTo(start) != 0) {
            throw new IllegalStateException("donor WAL of " + donorWal.length + " bytes does not end at " + start);
        }
        p.appendPrimary(donorWal);
    }

    /** Its commit LSN must name WAL that agrees with every commit reported before. */
    private void recordCommit(SimProposer p) {
        Lsn commit = p.proposer.commitLsn();
        if (!commit.isValid() || commit.compareTo(BASE) <= 0) {
            return;
        }
        int n = (int) (commit.value() - BASE.value());
        if (n > p.primaryLength) {
            throw new AssertionError("proposer " + p.id + " reports commit " + commit + " beyond its WAL "
                    + p.primaryEnd());
        }
        // Both only grow and were compared below p.agreed before.
        int common = Math.min(n, committedLength);
        if (p.agreed < common) {
            if (!Arrays.equals(p.primary, p.agreed, common, committed, p.agreed, common)) {
                throw new AssertionError("proposer " + p.id + " (term " + p.proposer.term() + ") reports commit "
                        + commit + " over WAL that differs from WAL committed before, below " + committedEnd());
            }
            p.agreed = common;
        }
        if (n > committedLength) {
            if (n > committed.length) {
                committed = Arrays.copyOf(committed, Math.max(2 * committed.length, n));
            }
            System.arraycopy(p.primary, committedLength, committed, committedLength, n - committedLength);
            committedLength = n;
            p.agreed = n;
        }
    }

    /**
     * A new chunk of WAL at an elected proposer. The first one mostly re-sends the donor's WAL from
     * BASE, so that nodes elected lower catch up; else from the term start or a point in between,
     * leaving the nodes below BEHIND (only peer recovery, not simulated, would bring them back).
     */
    void append(SimProposer p) {
        Proposer proposer = p.proposer;
        byte[] fresh = new byte[1 + random.nextInt(random.nextInt(8) == 0 ? 3000 : 300)];
        random.nextBytes(fresh);
        Lsn begin;
        byte[] data;
        if (!proposer.walAppended()) {
            int pick = random.nextInt(8);
            int from = pick > 1 ? 0 : pick == 1 ? p.primaryLength : random.nextInt(p.primaryLength + 1);
            begin = BASE.plus(from);
            data = Arrays.copyOfRange(p.primary, from, p.primaryLength + fresh.length);
            System.arraycopy(fresh, 0, data, p.primaryLength - from, fresh.length);
        } else {
            begin = proposer.endOfWal();
            data = fresh;
        }
        if (!begin.plus(data.length).equals(p.primaryEnd().plus(fresh.length))) {
            throw new IllegalStateException("proposer " + p.id + " WAL ends at " + proposer.endOfWal()
                    + ", its primary at " + p.primaryEnd());
        }
        p.appendPrimary(fresh);
        trace("proposer " + p.id + " appends [" + begin + ", " + begin.plus(data.length) + ")");
        network.send(p, proposer.append(begin, ByteSlice.of(data)));
    }

    // ---------------------------------------------------------------- acceptors

    /** The node dies: its connections break, unflushed WAL and unjournaled events are lost. */
    void crash(SimNode node) {
        crashes++;
        node.up = false;
        node.streaming = null;
        for (SimProposer p : List.copyOf(live)) {
            network.close(p, node.index);
        }
        node.journal = node.journal.reboot();
        node.wal = node.wal.crashed();
        node.acceptor = null;
        trace("node " + node.index + " crashes: flushed to " + node.wal.flushRecordLsn() + ", term "
                + node.journal.state().term());
    }

    void restart(SimNode node) {
        node.up = true;
        node.acceptor = new Acceptor(100 + node.index, node.journal, node.wal);
        if (Long.compareUnsigned(node.journal.state().term(), node.votedTermAnswered) < 0) {
            throw new AssertionError("node " + node.index + " answered a vote for term " + node.votedTermAnswered
                    + " but restarts with term " + node.journal.state().term());
        }
        trace("node " + node.index + " restarts");
    }

    /** After a command of an acceptor: its journal writes become durable, or it crashes first. */
    void endCommand(SimNode node) {
        if (random.nextInt(200) == 0) {
            crash(node);
        } else {
            node.journal.makeDurable();
        }
    }

    void noteReply(SimNode node, AcceptorMessage reply) {
        if (reply instanceof VoteResponse v && v.voteGiven()
                && Long.compareUnsigned(v.term(), node.votedTermAnswered) > 0) {
            node.votedTermAnswered = v.term();
        }
    }

    /** The node's flushed WAL, as a vote's donor snapshot. */
    byte[] flushedWal(SimNode node, Lsn flush) {
        if (!flush.isValid() || node.wal.isEmpty()) {
            return new byte[0];
        }
        return node.wal.copy((int) (flush.value() - BASE.value()));
    }

    // ---------------------------------------------------------------- invariants

    /**
     * At most one proposer elected per term (checked at each election); committed WAL never
     * changes (checked at each commit report) and never disappears: a majority of nodes hold it
     * flushed; every live node holds exactly the committed WAL below the commit LSN it knows.
     */
    void checkInvariants() {
        int holders = 0;
        for (SimNode node : nodes) {
            if (node.wal.start().isValid() && !node.wal.start().equals(BASE)) {
                throw new AssertionError("node " + node.index + " WAL starts at " + node.wal.start());
            }
            node.agreed = node.wal.agreement(Math.min(node.agreed, node.wal.lowWater()), committed, committedLength);
            holders += node.agreed == committedLength ? 1 : 0;
            if (node.acceptor != null) {
                Lsn commit = node.acceptor.commitLsn();
                long below = commit.compareTo(BASE) <= 0 ? 0 : commit.value() - BASE.value();
                if (below > committedLength) {
                    throw new AssertionError("node " + node.index + " knows commit " + commit
                            + " beyond any commit reported, " + committedEnd());
                }
                if (below > node.agreed) {
                    throw new AssertionError("node " + node.index + " differs from the committed WAL below its commit "
                            + commit + " from " + BASE.plus(node.agreed) + " (flushed to " + node.wal.flushRecordLsn()
                            + ")");
                }
            }
        }
        if (holders < quorum) {
            throw new AssertionError("only " + holders + " of " + nodeCount + " nodes hold the committed WAL up to "
                    + committedEnd() + " flushed");
        }
    }

    /** The highest commit any proposer reported. */
    Lsn committedEnd() {
        return BASE.plus(committedLength);
    }

    @Override
    public String toString() {
        return nodeCount + " nodes, " + proposersStarted + " proposers, " + elections + " elections, " + crashes
                + " crashes, committed to " + committedEnd();
    }
}
