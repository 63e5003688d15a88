package dev.walkeeper.actors.consensus;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
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

/**
 * The proposer side of the proposer/acceptor protocol (Neon's {@code walproposer.c}), as pure
 * logic: no actors, sockets or clocks. Each input method returns the messages to send, as
 * {@link Outbound} (node index, message); the caller owns the connections, calls
 * {@link #nodeDisconnected} when one drops and {@link #nodeReconnected} when it is back, and
 * calls {@link #heartbeat} on its own timer (Neon: about every second).
 *
 * <p>Election: once a majority of nodes greeted, term = max(greeted terms) + 1 and every greeted
 * node (and any greeted later) is asked for its vote. With a majority of votes the donor is the
 * voter with the highest (last log term, flush LSN); our term starts at its flush LSN (the
 * basebackup LSN on a brand-new timeline) and our history is the donor's plus (term, start).
 * Every voter, and every node that votes later — also one that refuses because it already holds
 * our term ("elected into the same term") — gets a ProposerElected whose start is the highest
 * common point of our history and its own ({@link Acceptor#highestCommonPoint}).
 *
 * <p>Streaming: WAL from the primary arrives through {@link #append} and goes out at once to every
 * elected node whose position it continues. The most recent WAL is kept in a buffer of bounded
 * size: a node whose position is behind the end (elected at a lower start, or reconnected) is sent
 * the missing WAL from there first, at most {@link AppendRequest#MAX_SEND_SIZE} per message; a
 * node whose position has already left the buffer is {@link NodeState#BEHIND}: it needs recovery
 * from a peer and is skipped while the quorum goes on. Each node has a send window: no more is
 * sent than a window beyond what its connection reported written ({@link #onWritten}), so a
 * slow node or a long catch-up never queues more than the window in front of a socket; a node
 * held back so long that its position left the buffer becomes BEHIND too.
 *
 * <p>Commit LSN = the majority-th highest flush LSN among nodes whose flush reached our term's
 * start (no committing a previous term's WAL alone); it never decreases, and it reaches the nodes
 * with the next AppendRequest, or sooner through {@link #commitUpdates}. Truncate LSN =
 * min(lowest flush LSN of all nodes, commit LSN), never decreasing. A higher term anywhere makes us step down ({@link ProposerSteppedDown}).
 *
 * <p>Errors: an {@link IllegalStateException} from an input means that node broke the protocol
 * (a message out of turn, an inconsistent history); nothing changed, and the caller drops the
 * node's connection ({@link #nodeDisconnected}). Not thread-safe: one actor owns it.
 */
public final class Proposer {

    /** Where the buffer of recent WAL stops by default: one WAL segment's worth. */
    public static final long DEFAULT_BUFFER_BYTES = 16L * 1024 * 1024;

    /** No send window: whatever a node needs is sent at once (for callers without socket feedback). */
    public static final long UNLIMITED_WINDOW = Long.MAX_VALUE;

    /** No membership generations yet: the configuration Neon sends before they are enabled. */
    private static final MembershipConfiguration MCONF = MembershipConfiguration.EMPTY;

    /** A message for the node with index {@code node}. */
    public record Outbound(int node, ProposerMessage message) {}

    /**
     * Where a node is in the protocol, as seen by this proposer. Transitions:
     * <ul>
     *   <li>DISCONNECTED → GREETING: {@link #greetings()} / {@link #nodeReconnected} (a greeting is sent);
     *   <li>GREETING → VOTING: it greeted and a majority has greeted (a VoteRequest is sent);
     *   <li>VOTING → ELECTED: its vote counted and we are elected (a ProposerElected is sent);
     *   <li>ELECTED ⇄ STREAMING: STREAMING once everything appended from its position on has been
     *       sent to it, ELECTED while it waits for WAL at its position;
     *   <li>ELECTED/STREAMING → BEHIND: its position left the buffer; it gets heartbeats only;
     *   <li>any → DISCONNECTED: {@link #nodeDisconnected}.
     * </ul>
     */
    public enum NodeState { DISCONNECTED, GREETING, VOTING, ELECTED, STREAMING, BEHIND }

    /**
     * One node as seen by the proposer.
     *
     * @param nodeId from its last greeting, 0 before one
     * @param flushLsn the flush LSN of its last AppendResponse to us (kept across disconnects: it is durable)
     * @param streamingAt the next LSN we will send it; INVALID until it is elected
     * @param writtenLsn how far its connection took the WAL sent (from its elected start on); INVALID until it is elected
     */
    public record NodeStatus(NodeState state, long nodeId, Lsn flushLsn, Lsn streamingAt, Lsn writtenLsn) {}

    private static final class Node {
        NodeState state = NodeState.DISCONNECTED;
        long nodeId;
        boolean greeted;
        /** Its counted VoteResponse on this connection, null before one. */
        VoteResponse vote;
        /** It granted us its vote at some time: a later refusal in our term still counts as its vote. */
        boolean granted;
        Lsn streamingAt = Lsn.INVALID;
        Lsn writtenLsn = Lsn.INVALID;
        Lsn flushLsn = Lsn.INVALID;
        /** The commit LSN our last AppendRequest to it carried. */
        Lsn commitSent = Lsn.INVALID;
    }

    private final TenantTimelineId id;
    private final int pgVersion;
    private final long systemId;
    private final int walSegSize;
    private final Lsn basebackupLsn;
    private final long sendWindow;
    private final Node[] nodes;
    private final int quorum;

    private boolean termChosen;
    private long maxGreetedTerm;
    private long term;
    private boolean elected;
    private TermHistory history = TermHistory.EMPTY;
    private Lsn termStartLsn = Lsn.INVALID;
    private Lsn commitLsn = Lsn.INVALID;
    private Lsn truncateLsn = Lsn.INVALID;
    private ProposerSteppedDown steppedDown;

    /** Recent WAL, contiguous, up to endOfWal once WAL was appended. */
    private final RecentWal recent;
    /** The end of the WAL appended (Neon's availableLsn); the term start until the first append. */
    private Lsn endOfWal = Lsn.INVALID;
    private boolean walAppended;

    public Proposer(TenantTimelineId id, int pgVersion, long systemId, int walSegSize, int nodeCount,
                    Lsn basebackupLsn) {
        this(id, pgVersion, systemId, walSegSize, nodeCount, basebackupLsn, DEFAULT_BUFFER_BYTES, UNLIMITED_WINDOW);
    }

    /**
     * @param basebackupLsn where WAL starts if the timeline is brand new (no node has any)
     * @param bufferBytes how much recent WAL is kept to catch lagging nodes up
     * @param sendWindow how much WAL may be sent to a node beyond what {@link #onWritten} reported,
     *     or {@link #UNLIMITED_WINDOW}
     */
    public Proposer(TenantTimelineId id, int pgVersion, long systemId, int walSegSize, int nodeCount,
                    Lsn basebackupLsn, long bufferBytes, long sendWindow) {
        if (nodeCount < 1) {
            throw new IllegalArgumentException("need at least one node, got " + nodeCount);
        }
        if (!basebackupLsn.isValid()) {
            throw new IllegalArgumentException("the basebackup LSN must be valid");
        }
        if (bufferBytes < 0) {
            throw new IllegalArgumentException("negative buffer budget " + bufferBytes);
        }
        if (sendWindow < 1) {
            throw new IllegalArgumentException("send window " + sendWindow);
        }
        this.id = id;
        this.pgVersion = pgVersion;
        this.systemId = systemId;
        this.walSegSize = walSegSize;
        this.basebackupLsn = basebackupLsn;
        this.recent = new RecentWal(bufferBytes);
        this.sendWindow = sendWindow;
        this.nodes = new Node[nodeCount];
        for (int i = 0; i < nodeCount; i++) {
            nodes[i] = new Node();
        }
        this.quorum = nodeCount / 2 + 1;
    }

    // ---------------------------------------------------------------- inputs

    /** Starts the campaign: a greeting to every node. Call once; nodes that cannot be reached are {@link #nodeDisconnected}. */
    public List<Outbound> greetings() {
        checkActive();
        for (Node n : nodes) {
            if (n.state != NodeState.DISCONNECTED) {
                throw new IllegalStateException("greetings() already called");
            }
        }
        List<Outbound> out = new ArrayList<>();
        for (int i = 0; i < nodes.length; i++) {
            out.addAll(greet(i));
        }
        return out;
    }

    /** A node's connection is back (or new): it is greeted again, then asked for its vote and elected into our term. */
    public List<Outbound> nodeReconnected(int node) {
        checkActive();
        nodeDisconnected(node);
        return greet(node);
    }

    /**
     * A node's connection dropped. Its vote on that connection no longer counts; its reported
     * flush LSN does (it is durable). Messages still in flight from it must not be passed on
     * after this (they are ignored until it is reconnected).
     */
    public void nodeDisconnected(int node) {
        Node n = node(node);
        n.state = NodeState.DISCONNECTED;
        n.greeted = false;
        n.vote = null;
        n.streamingAt = Lsn.INVALID;
        n.writtenLsn = Lsn.INVALID;
        n.commitSent = Lsn.INVALID; // a new connection is told the commit LSN again
    }

    public List<Outbound> onAcceptorGreeting(int node, AcceptorGreeting greeting) {
        checkActive();
        Node n = node(node);
        if (n.state == NodeState.DISCONNECTED) {
            return List.of();
        }
        if (n.state != NodeState.GREETING || n.greeted) {
            throw new IllegalStateException("node " + node + " sent an AcceptorGreeting in state " + n.state);
        }
        n.greeted = true;
        n.nodeId = greeting.nodeId();
        List<Outbound> out = new ArrayList<>();
        if (termChosen) {
            if (Long.compareUnsigned(greeting.term(), term) > 0) {
                throw stepDown(node, greeting.term(), "greeted with a higher term");
            }
            requestVote(node, out);
            return out;
        }
        if (Long.compareUnsigned(greeting.term(), maxGreetedTerm) > 0) {
            maxGreetedTerm = greeting.term();
        }
        int greeted = 0;
        for (Node other : nodes) {
            if (other.state == NodeState.GREETING && other.greeted) {
                greeted++;
            }
        }
        if (greeted >= quorum) {
            termChosen = true;
            term = maxGreetedTerm + 1;
            for (int i = 0; i < nodes.length; i++) {
                if (nodes[i].state == NodeState.GREETING && nodes[i].greeted) {
                    requestVote(i, out);
                }
            }
        }
        return out;
    }

    public List<Outbound> onVoteResponse(int node, VoteResponse vote) {
        checkActive();
        Node n = node(node);
        if (n.state == NodeState.DISCONNECTED) {
            return List.of();
        }
        if (n.state != NodeState.VOTING || n.vote != null) {
            throw new IllegalStateException("node " + node + " sent a VoteResponse in state " + n.state);
        }
        int order = Long.compareUnsigned(vote.term(), term);
        if (order > 0) {
            throw stepDown(node, vote.term(), "refused its vote with a higher term");
        }
        if (order < 0) {
            throw new IllegalStateException("node " + node + " answered our VoteRequest for term "
                    + Long.toUnsignedString(term) + " with term " + Long.toUnsignedString(vote.term()));
        }
        if (vote.voteGiven()) {
            n.granted = true;
        } else if (!elected && !n.granted) {
            // Our term, but not given to us: another proposer picked the same term and got it.
            throw stepDown(node, vote.term(), "voted for another proposer in our term");
        }
        // A refusal in our term once we are elected (or from a node that voted for us before):
        // it holds our term, so nobody else can change its log; it is elected into our term.
        List<Outbound> out = new ArrayList<>();
        if (elected) {
            Lsn start = startFor(node, history, vote);
            n.vote = vote;
            sendElected(node, start, out);
            return out;
        }
        n.vote = vote;
        int votes = 0;
        for (Node other : nodes) {
            if (other.state == NodeState.VOTING && other.vote != null) {
                votes++;
            }
        }
        if (votes >= quorum) {
            try {
                becomeElected(out);
            } catch (IllegalStateException e) {
                n.vote = null; // nothing changed: the caller drops this node's connection
                throw e;
            }
        }
        return out;
    }

    /**
     * WAL from the primary, {@code [begin, begin + wal.length())}, contiguous with the previous
     * append. The first append after the election may begin at or before the term start (WAL
     * before it must be the WAL the donor has, re-read from the primary to feed nodes elected at
     * a lower start). The slice is kept (in the buffer and in messages): do not modify its bytes.
     */
    public List<Outbound> append(Lsn begin, ByteSlice wal) {
        checkActive();
        if (!elected) {
            throw new IllegalStateException("append before the proposer is elected");
        }
        if (walAppended ? !begin.equals(endOfWal) : begin.compareTo(endOfWal) > 0) {
            throw new IllegalArgumentException("WAL appended at " + begin + " does not continue the WAL, which ends at "
                    + endOfWal);
        }
        List<Outbound> out = new ArrayList<>();
        if (wal.isEmpty()) {
            return out;
        }
        if (!walAppended) {
            walAppended = true;
            recent.restart(begin);
        }
        recent.append(begin, wal);
        endOfWal = begin.plus(wal.length());
        for (int i = 0; i < nodes.length; i++) {
            pump(i, out);
        }
        return out;
    }

    /** The node's flush LSN; the commit and truncate LSNs may advance (nothing is sent: see {@link #commitUpdates}). */
    public void onAppendResponse(int node, AppendResponse response) {
        checkActive();
        Node n = node(node);
        if (n.state == NodeState.DISCONNECTED) {
            return;
        }
        if (Long.compareUnsigned(response.term(), term) > 0) {
            throw stepDown(node, response.term(), "answered an AppendRequest with a higher term");
        }
        if (!isElected(n)) {
            throw new IllegalStateException("node " + node + " sent an AppendResponse in state " + n.state);
        }
        n.flushLsn = response.flushLsn();
        commitLsn = Lsn.max(commitLsn, quorumFlushLsn());
        Lsn minFlush = nodes[0].flushLsn;
        for (Node other : nodes) {
            minFlush = Lsn.min(minFlush, other.flushLsn);
        }
        truncateLsn = Lsn.max(truncateLsn, Lsn.min(minFlush, commitLsn));
    }

    /**
     * Empty AppendRequests to the elected nodes that have not yet been sent the current commit
     * LSN. A commit advance otherwise travels with the next WAL (or {@link #heartbeat}): sending
     * it at once after every response would double the messages under load, so the caller
     * calls this shortly after an advance.
     */
    public List<Outbound> commitUpdates() {
        checkActive();
        List<Outbound> out = new ArrayList<>();
        for (int i = 0; i < nodes.length; i++) {
            Node n = nodes[i];
            if (isElected(n) && n.commitSent.compareTo(commitLsn) < 0) {
                out.add(new Outbound(i, appendRequest(n, ByteSlice.EMPTY)));
            }
        }
        return out;
    }

    /**
     * The node's connection took the WAL sent to it up to {@code lsn} (its socket accepted it):
     * the send window moves on, and WAL waiting for it is sent.
     */
    public List<Outbound> onWritten(int node, Lsn lsn) {
        checkActive();
        Node n = node(node);
        if (!isElected(n) || lsn.compareTo(n.writtenLsn) <= 0) {
            return List.of(); // a report from an older connection, or nothing new
        }
        if (lsn.compareTo(n.streamingAt) > 0) {
            throw new IllegalArgumentException("node " + node + " wrote up to " + lsn + " but was sent WAL up to "
                    + n.streamingAt);
        }
        n.writtenLsn = lsn;
        List<Outbound> out = new ArrayList<>();
        pump(node, out);
        return out;
    }

    /**
     * Empty AppendRequests to every elected node, carrying the current commit and truncate LSNs. A
     * {@link NodeState#BEHIND} node whose flush LSN came back into the buffer (it recovered WAL
     * from a peer) is streamed to again from there instead.
     */
    public List<Outbound> heartbeat() {
        checkActive();
        List<Outbound> out = new ArrayList<>();
        for (int i = 0; i < nodes.length; i++) {
            Node n = nodes[i];
            if (n.state == NodeState.BEHIND && walAppended && n.flushLsn.compareTo(recent.start()) >= 0
                    && n.flushLsn.compareTo(endOfWal) <= 0) {
                n.streamingAt = n.flushLsn;
                n.writtenLsn = n.flushLsn;
                n.state = NodeState.ELECTED;
                pump(i, out);
                if (!out.isEmpty() && out.get(out.size() - 1).node() == i) {
                    continue; // it got WAL, which carries the horizons
                }
            }
            if (isElected(n)) {
                out.add(new Outbound(i, appendRequest(nodes[i], ByteSlice.EMPTY)));
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- state

    /** Our term; 0 until a majority greeted. */
    public long term() {
        return term;
    }

    public boolean elected() {
        return elected;
    }

    /** Where our term's WAL begins; INVALID before the election. */
    public Lsn termStartLsn() {
        return termStartLsn;
    }

    /** The donor's history plus our term; empty before the election. */
    public TermHistory termHistory() {
        return history;
    }

    public Lsn commitLsn() {
        return commitLsn;
    }

    public Lsn truncateLsn() {
        return truncateLsn;
    }

    /** The end of the WAL appended so far (the term start before the first append). */
    public Lsn endOfWal() {
        return endOfWal;
    }

    /** True once WAL was appended in this term: from then on each append continues {@link #endOfWal}. */
    public boolean walAppended() {
        return walAppended;
    }

    /**
     * How far the connections of a majority of nodes took the WAL sent to them ({@link #onWritten});
     * INVALID while fewer than a majority are elected.
     */
    public Lsn quorumWrittenLsn() {
        Lsn[] written = new Lsn[nodes.length];
        for (int i = 0; i < nodes.length; i++) {
            written[i] = nodes[i].writtenLsn;
        }
        return majorityth(written);
    }

    /** The oldest LSN still in the buffer: nodes below it are {@link NodeState#BEHIND}. */
    public Lsn bufferStart() {
        return walAppended ? recent.start() : termStartLsn;
    }

    public NodeStatus nodeStatus(int node) {
        Node n = node(node);
        return new NodeStatus(n.state, n.nodeId, n.flushLsn, n.streamingAt, n.writtenLsn);
    }

    public List<NodeStatus> status() {
        List<NodeStatus> all = new ArrayList<>(nodes.length);
        for (int i = 0; i < nodes.length; i++) {
            all.add(nodeStatus(i));
        }
        return all;
    }

    /** True once a node showed a term that made us stop; every input then throws {@link ProposerSteppedDown}. */
    public boolean steppedDown() {
        return steppedDown != null;
    }

    // ---------------------------------------------------------------- internals

    private Node node(int node) {
        if (node < 0 || node >= nodes.length) {
            throw new IndexOutOfBoundsException("node " + node + " of " + nodes.length);
        }
        return nodes[node];
    }

    private void checkActive() {
        if (steppedDown != null) {
            throw steppedDown;
        }
    }

    private ProposerSteppedDown stepDown(int node, long theirTerm, String why) {
        steppedDown = new ProposerSteppedDown(node, theirTerm, term, why);
        return steppedDown;
    }

    private static boolean isElected(Node n) {
        return n.state == NodeState.ELECTED || n.state == NodeState.STREAMING || n.state == NodeState.BEHIND;
    }

    private List<Outbound> greet(int node) {
        nodes[node].state = NodeState.GREETING;
        return List.of(new Outbound(node, new ProposerGreeting(id, MCONF, pgVersion, systemId, walSegSize)));
    }

    private void requestVote(int node, List<Outbound> out) {
        nodes[node].state = NodeState.VOTING;
        out.add(new Outbound(node, new VoteRequest(MCONF.generation(), term)));
    }

    /** A majority voted: pick the donor, fix our term's start and history, and tell every voter. */
    private void becomeElected(List<Outbound> out) {
        VoteResponse donor = null;
        long donorLastTerm = 0;
        Lsn maxTruncate = Lsn.INVALID;
        for (Node n : nodes) {
            if (n.state != NodeState.VOTING || n.vote == null) {
                continue;
            }
            VoteResponse v = n.vote;
            long lastTerm = v.history().upTo(v.flushLsn()).lastTerm();
            int order = donor == null ? 1 : Long.compareUnsigned(lastTerm, donorLastTerm);
            if (order > 0 || (order == 0 && v.flushLsn().compareTo(donor.flushLsn()) > 0)) {
                donor = v;
                donorLastTerm = lastTerm;
            }
            maxTruncate = Lsn.max(maxTruncate, v.truncateLsn());
        }
        Lsn donorFlush = donor.flushLsn();
        // No node has any WAL: a brand-new timeline begins where the basebackup was taken.
        Lsn start = donorFlush.isValid() ? donorFlush : basebackupLsn;
        List<TermSwitch> entries = new ArrayList<>(donor.history().upTo(donorFlush).entries());
        entries.add(new TermSwitch(term, start));
        TermHistory ours = new TermHistory(entries);
        // Every voter's start first: an inconsistent history throws before anything changed.
        Lsn[] starts = new Lsn[nodes.length];
        for (int i = 0; i < nodes.length; i++) {
            if (nodes[i].state == NodeState.VOTING && nodes[i].vote != null) {
                starts[i] = startFor(i, ours, nodes[i].vote);
            }
        }
        termStartLsn = start;
        truncateLsn = donorFlush.isValid() ? maxTruncate : basebackupLsn;
        history = ours;
        elected = true;
        endOfWal = termStartLsn;
        recent.restart(termStartLsn);
        for (int i = 0; i < nodes.length; i++) {
            if (starts[i] != null) {
                sendElected(i, starts[i], out);
            }
        }
    }

    /** Where a voter's log and ours agree: the highest common point of the histories, as the acceptor computes it. */
    private static Lsn startFor(int node, TermHistory ours, VoteResponse v) {
        try {
            return Acceptor.highestCommonPoint(ours, v.history().upTo(v.flushLsn()), v.flushLsn());
        } catch (AcceptorException e) {
            throw new IllegalStateException("node " + node + ": " + e.getMessage(), e);
        }
    }

    /** ProposerElected to one voter, then whatever WAL the buffer has for it. */
    private void sendElected(int node, Lsn start, List<Outbound> out) {
        Node n = nodes[node];
        n.state = NodeState.ELECTED;
        n.streamingAt = start;
        n.writtenLsn = start; // it has its WAL up to its start: nothing below is in flight
        out.add(new Outbound(node, new ProposerElected(MCONF.generation(), term, start, history)));
        pump(node, out);
    }

    /**
     * Sends an elected node the WAL from its position towards the end, from the buffer, as far as
     * its send window allows; or marks it behind.
     */
    private void pump(int node, List<Outbound> out) {
        Node n = nodes[node];
        if (n.state != NodeState.ELECTED && n.state != NodeState.STREAMING) {
            return;
        }
        if (!walAppended) {
            // Until the first append we have no WAL: a node below the term start waits for the
            // bridge to begin at or before its position.
            n.state = n.streamingAt.equals(endOfWal) ? NodeState.STREAMING : NodeState.ELECTED;
            return;
        }
        if (n.streamingAt.compareTo(recent.start()) < 0) {
            n.state = NodeState.BEHIND; // needs recovery from a peer; the quorum goes on without it
            return;
        }
        while (n.streamingAt.compareTo(endOfWal) < 0
                && n.streamingAt.value() - n.writtenLsn.value() < sendWindow) {
            long room = sendWindow - (n.streamingAt.value() - n.writtenLsn.value());
            int length = (int) Math.min(Math.min(AppendRequest.MAX_SEND_SIZE, room),
                    endOfWal.value() - n.streamingAt.value());
            out.add(new Outbound(node, appendRequest(n, recent.read(n.streamingAt, length))));
            n.streamingAt = n.streamingAt.plus(length);
        }
        n.state = n.streamingAt.equals(endOfWal) ? NodeState.STREAMING : NodeState.ELECTED;
    }

    /** WAL (or none) at the node's position, with the horizons it now learns. */
    private AppendRequest appendRequest(Node n, ByteSlice wal) {
        n.commitSent = commitLsn;
        return new AppendRequest(MCONF.generation(), term, n.streamingAt, n.streamingAt.plus(wal.length()), commitLsn,
                truncateLsn, wal);
    }

    /** The majority-th highest flush LSN, counting only nodes whose flush reached our term's start. */
    private Lsn quorumFlushLsn() {
        Lsn[] acks = new Lsn[nodes.length];
        for (int i = 0; i < nodes.length; i++) {
            Lsn flush = nodes[i].flushLsn;
            acks[i] = flush.compareTo(termStartLsn) >= 0 ? flush : Lsn.INVALID;
        }
        return majorityth(acks);
    }

    /** The highest LSN that a majority of the given positions (one per node) reached. */
    private Lsn majorityth(Lsn[] positions) {
        Arrays.sort(positions);
        return positions[nodes.length - quorum];
    }
}
