package dev.walkeeper.actors.consensus;

import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.HotStandbyFeedback;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The acceptor side of the proposer/acceptor protocol, as pure logic over two storage interfaces
 * (in the manner of Neon's {@code SafeKeeper<CTRL, WAL>}): no actors, no sockets. The timeline
 * actor wraps it; tests run it over in-memory fakes and "reboot" it from what the fakes persisted.
 *
 * <p>Durability rules it enforces: a granted vote's term, and an election's term and history, are
 * persisted (and only then replied to / acted on); WAL is acknowledged only up to what the WAL
 * store reports flushed; committed WAL is never truncated.
 */
public final class Acceptor {

    /** The journal of {@link AcceptorState}. */
    public interface StateStore {
        /** The state including every event passed to {@link #persist}, durable or not yet. */
        AcceptorState state();

        /**
         * Applies the events now and runs {@code afterDurable} once they are durable; events of
         * successive calls become durable in order.
         */
        void persist(List<AcceptorEvent> events, Runnable afterDurable);
    }

    private final long nodeId;
    private final StateStore store;
    private final WalStore wal;

    /** Commit LSN learnt from proposers and capped by our flush; runs ahead of the journaled one. */
    private Lsn commitLsn;
    private Lsn peerHorizonLsn;
    /** The commit LSN the elected proposer announced last; applied as far as our flush covers it. */
    private Lsn proposedCommit = Lsn.INVALID;
    /** The term whose ProposerElected this incarnation processed: appends need it. */
    private long electedTerm = -1;
    /** Start of the elected proposer's term (last history entry). */
    private Lsn termStartLsn = Lsn.INVALID;
    /** An append arrived since the last AppendResponse: the next flush answers it. */
    private boolean responseOwed;
    private Lsn lastReportedFlush = Lsn.INVALID;
    /**
     * Where WAL recovered from a peer began to be written since the last truncation (INVALID if
     * none): an AppendRequest of our term may overlap it, since both carry the same term's WAL.
     */
    private Lsn recoveredFrom = Lsn.INVALID;
    /**
     * While a copy from a peer runs in this incarnation: the term it journaled, the peer's last
     * log term (whose WAL it takes), and where the WAL it may take ends; -1 / INVALID
     * otherwise. A vote or an election ends it.
     */
    private long copyTerm = -1;
    private long copyWalTerm = -1;
    private Lsn copyLimit = Lsn.INVALID;

    /**
     * What a copy from a peer installs ({@link #copied}): the peer's server info and membership,
     * our term (at least the peer's, and at least every term the cluster published), the peer's
     * history cut at {@code limit}, its start LSNs, the peer's last log term {@code walTerm} (its
     * WAL is that term's history's) and the end of the WAL taken from it, with the commit LSN it
     * reported (applied within our flush, never beyond {@code limit}).
     */
    public record Copy(TenantTimelineId id, ServerInfo server, MembershipConfiguration mconf, long term,
                       TermHistory history, Lsn timelineStartLsn, Lsn localStartLsn, long walTerm, Lsn limit,
                       Lsn peerCommitLsn, Lsn peerHorizonLsn) {}

    public Acceptor(long nodeId, StateStore store, WalStore wal) {
        this.nodeId = nodeId;
        this.store = store;
        this.wal = wal;
        AcceptorState state = store.state();
        this.commitLsn = state.commitLsn();
        this.peerHorizonLsn = state.peerHorizonLsn();
    }

    public AcceptorState state() {
        return store.state();
    }

    public Lsn flushLsn() {
        return Lsn.max(wal.flushRecordLsn(), store.state().timelineStartLsn());
    }

    public Lsn commitLsn() {
        return commitLsn;
    }

    /** The term of the proposer this acceptor takes appends from, or -1 before an election. */
    public long electedTerm() {
        return electedTerm;
    }

    /**
     * Handles one proposer message. Replies go to {@code reply}, possibly later (after the state
     * store made an event durable). Throws {@link AcceptorException} on a rule violation.
     */
    public void handle(ProposerMessage message, boolean allowTimelineCreation, Consumer<AcceptorMessage> reply) {
        if (message instanceof ProposerGreeting greeting) {
            onGreeting(greeting, allowTimelineCreation, reply);
        } else if (message instanceof VoteRequest vote) {
            onVote(vote, reply);
        } else if (message instanceof ProposerElected elected) {
            onElected(elected);
        } else {
            onAppend((AppendRequest) message, reply);
        }
    }

    private void onGreeting(ProposerGreeting greeting, boolean allowTimelineCreation, Consumer<AcceptorMessage> reply) {
        AcceptorState state = store.state();
        ServerInfo offered = new ServerInfo(greeting.pgVersion(), greeting.systemId(), greeting.walSegSize());
        if (!state.created()) {
            if (!allowTimelineCreation) {
                throw AcceptorException.timelineNotCreated(greeting.id().toString());
            }
            store.persist(List.of(new AcceptorEvent.TimelineCreated(greeting.id(), offered, greeting.mconf())),
                    () -> reply.accept(greetingReply()));
            return;
        }
        if (!state.id().equals(greeting.id())) {
            throw new AcceptorException("greeting for timeline " + greeting.id() + " reached timeline " + state.id());
        }
        if (state.server().pgMajor() != offered.pgMajor()) {
            throw new AcceptorException("incompatible PostgreSQL major version: timeline has " + state.server().pgVersion()
                    + ", proposer has " + offered.pgVersion());
        }
        if (state.server().walSegSize() != offered.walSegSize()) {
            throw new AcceptorException("wal_seg_size mismatch: timeline has " + state.server().walSegSize()
                    + ", proposer has " + offered.walSegSize());
        }
        if (offered.systemId() != 0 && offered.systemId() != state.server().systemId()) {
            store.persist(List.of(new AcceptorEvent.SystemIdAdopted(offered.systemId())),
                    () -> reply.accept(greetingReply()));
            return;
        }
        reply.accept(greetingReply());
    }

    private AcceptorGreeting greetingReply() {
        AcceptorState state = store.state();
        return new AcceptorGreeting(nodeId, state.mconf(), state.term());
    }

    private void checkGeneration(int generation) {
        int ours = store.state().mconf().generation();
        if (generation != ours) {
            throw new AcceptorException("membership generation mismatch: ours " + Integer.toUnsignedString(ours)
                    + ", proposer's " + Integer.toUnsignedString(generation));
        }
    }

    private void requireCreated() {
        if (!store.state().created()) {
            throw new AcceptorException("proposer message before greeting");
        }
    }

    private void onVote(VoteRequest vote, Consumer<AcceptorMessage> reply) {
        requireCreated();
        checkGeneration(vote.generation());
        // The new proposer starts from our end of WAL: make all of it durable first.
        flushWal();
        AcceptorState state = store.state();
        if (Long.compareUnsigned(state.term(), vote.term()) >= 0) {
            reply.accept(voteResponse(vote.generation(), false));
            return;
        }
        endCopy(); // the term changes: from now on a proposer decides where our WAL ends
        store.persist(List.of(new AcceptorEvent.TermVoted(vote.term())),
                () -> reply.accept(voteResponse(vote.generation(), true)));
    }

    private VoteResponse voteResponse(int generation, boolean given) {
        AcceptorState state = store.state();
        Lsn flush = flushLsn();
        return new VoteResponse(generation, state.term(), given, flush, peerHorizonLsn, state.termHistory().upTo(flush));
    }

    private void onElected(ProposerElected elected) {
        requireCreated();
        checkGeneration(elected.generation());
        AcceptorState state = store.state();
        if (Long.compareUnsigned(state.term(), elected.term()) > 0) {
            return; // a stale proposer: no reply, as Neon
        }
        if (elected.history().isEmpty()) {
            throw new AcceptorException("ProposerElected with an empty term history");
        }
        Lsn flush = flushLsn();
        Lsn start = highestCommonPoint(elected.history(), state.termHistory().upTo(flush), flush);
        if (!start.equals(elected.startStreamingAt())) {
            throw new AcceptorException("start_streaming_at " + elected.startStreamingAt()
                    + " differs from the highest common point " + start + " of the histories");
        }
        if (start.compareTo(commitLsn) < 0) {
            throw new AcceptorException("start_streaming_at " + start + " is below commit_lsn " + commitLsn
                    + ": committed WAL is never truncated");
        }
        try {
            if (wal.isEmpty()) {
                wal.initialize(start);
            } else {
                wal.truncate(start);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot truncate WAL to " + start, e);
        }
        store.persist(List.of(new AcceptorEvent.TermHistoryInstalled(elected.term(), elected.history(), start)), () -> { });
        electedTerm = elected.term();
        // The first election raises the horizons to the timeline start.
        commitLsn = Lsn.max(commitLsn, store.state().commitLsn());
        peerHorizonLsn = Lsn.max(peerHorizonLsn, store.state().peerHorizonLsn());
        // Commit LSNs announced in earlier terms may name WAL that was just truncated.
        proposedCommit = commitLsn;
        termStartLsn = elected.history().entries().get(elected.history().entries().size() - 1).lsn();
        lastReportedFlush = Lsn.INVALID;
        recoveredFrom = Lsn.INVALID;
        endCopy();
    }

    /**
     * Where our log and the proposer's agree: the end of the last term both histories share —
     * for the proposer's own (last) term that is our flush LSN, otherwise the earlier of the next
     * term's start in either history (or our flush LSN). With nothing shared, the proposer's
     * first entry.
     */
    static Lsn highestCommonPoint(TermHistory proposer, TermHistory ours, Lsn ourFlush) {
        List<TermSwitch> p = proposer.entries();
        List<TermSwitch> o = ours.entries();
        int lastCommon = -1;
        for (int i = 0; i < Math.min(p.size(), o.size()); i++) {
            if (p.get(i).term() != o.get(i).term()) {
                break;
            }
            if (!p.get(i).lsn().equals(o.get(i).lsn())) {
                throw new AcceptorException("term " + p.get(i).term() + " starts at " + p.get(i).lsn()
                        + " in the proposer's history but at " + o.get(i).lsn() + " in ours");
            }
            lastCommon = i;
        }
        if (lastCommon < 0) {
            return p.get(0).lsn();
        }
        Lsn proposerEnd = lastCommon == p.size() - 1 ? null : p.get(lastCommon + 1).lsn();
        Lsn ourEnd = lastCommon == o.size() - 1 ? ourFlush : o.get(lastCommon + 1).lsn();
        return proposerEnd == null ? ourEnd : Lsn.min(proposerEnd, ourEnd);
    }

    private void onAppend(AppendRequest append, Consumer<AcceptorMessage> reply) {
        requireCreated();
        checkGeneration(append.generation());
        AcceptorState state = store.state();
        int order = Long.compareUnsigned(state.term(), append.term());
        if (order > 0) {
            // A newer proposer exists: answer with our term only, so this one steps down.
            reply.accept(new AppendResponse(append.generation(), state.term(), Lsn.INVALID, Lsn.INVALID,
                    HotStandbyFeedback.EMPTY, null));
            return;
        }
        if (order < 0 || electedTerm != append.term()) {
            throw new AcceptorException("AppendRequest of term " + append.term() + " before ProposerElected (our term "
                    + state.term() + ")");
        }
        if (!append.isHeartbeat()) {
            Lsn writeLsn = wal.writeLsn();
            boolean overRecovered = recoveredFrom.isValid() && append.beginLsn().compareTo(recoveredFrom) >= 0;
            if (append.beginLsn().compareTo(writeLsn) < 0 && !overRecovered) {
                throw new AcceptorException("AppendRequest rewrites WAL: write_lsn " + writeLsn + ", begin "
                        + append.beginLsn());
            }
            if (append.beginLsn().compareTo(writeLsn) > 0) {
                throw new AcceptorException("AppendRequest creates a gap: write_lsn " + writeLsn + ", begin "
                        + append.beginLsn());
            }
            // WAL recovered from a peer of our term is this proposer's WAL: only the rest is new.
            writeFrom(writeLsn, append.beginLsn(), append.wal());
        }
        if (append.commitLsn().isValid()) {
            proposedCommit = append.commitLsn();
        }
        peerHorizonLsn = Lsn.max(peerHorizonLsn, append.truncateLsn());
        responseOwed = true;
    }

    /**
     * WAL of term {@code term} recovered from a peer, {@code [begin, begin + bytes.length())}, with
     * the peer's commit LSN. Accepted only while our term is the last term of our installed history
     * and equals {@code term}: the peer's last log term was {@code term}, so its WAL is the one
     * proposer of that term's WAL, of which ours is a prefix (both hold that proposer's history up
     * to its term) — writing it past our end is what that proposer's AppendRequests would do, and
     * leaves our term history true. Bytes we already hold are skipped; a gap is refused. The commit
     * LSN may advance to min(peer's commit, our flush) at the next flush: committed WAL is a
     * prefix of every log of the last committed term's history. Written without fsync; the
     * caller flushes as for appends.
     */
    public void recovered(long term, Lsn begin, ByteSlice bytes, Lsn peerCommitLsn) {
        requireCreated();
        AcceptorState state = store.state();
        if (copyLimit.isValid()) {
            copiedWal(term, begin, bytes, peerCommitLsn);
            return;
        }
        long historyTerm = state.termHistory().lastTerm();
        if (historyTerm == 0 || state.term() != historyTerm || term != historyTerm) {
            throw new AcceptorException("recovered WAL of term " + term + " refused: our term is " + state.term()
                    + ", the last term of our history " + historyTerm);
        }
        if (wal.isEmpty()) {
            throw new AcceptorException("recovered WAL refused: no WAL here to continue");
        }
        Lsn writeLsn = wal.writeLsn();
        if (begin.compareTo(writeLsn) > 0) {
            throw new AcceptorException("recovered WAL creates a gap: write_lsn " + writeLsn + ", begin " + begin);
        }
        if (begin.plus(bytes.length()).compareTo(writeLsn) > 0) {
            if (!recoveredFrom.isValid()) {
                recoveredFrom = writeLsn;
            }
            writeFrom(writeLsn, begin, bytes);
        }
        if (peerCommitLsn.isValid()) {
            proposedCommit = Lsn.max(proposedCommit, peerCommitLsn);
        }
    }

    /**
     * Installs a timeline copied from a peer on an acceptor that holds none of it: no vote, no
     * history, no WAL (a greeting alone may have created it, for the same timeline). Journals
     * {@link AcceptorEvent.TimelineCopied} — {@code afterDurable} runs once it is durable, and
     * nothing of the copy is reported before: a VoteResponse is only ever built from journaled
     * state —, then {@code openWal} (the store can be opened once the server info is known) and
     * initialises the WAL at the peer's local start, where the peer's WAL begins. The peer's WAL
     * then comes through {@link #recovered}, up to {@code copy.limit()} and no further, written and
     * flushed as appends are, until a vote or an election ends the copy.
     *
     * <p>The caller chose the term, history and limit by {@code CopyRule}: WAL beyond a peer's
     * commit LSN only from a peer on the latest term history; a term no lower than any published.
     */
    public void copied(Copy copy, Runnable openWal, Runnable afterDurable) {
        AcceptorState state = store.state();
        if (holdsTimeline()) {
            throw new AcceptorException("timeline " + copy.id() + " is already present here (term " + state.term()
                    + ", flush " + flushLsn() + "): only a node without it can copy it");
        }
        if (state.created() && !state.id().equals(copy.id())) {
            throw new AcceptorException("copy of timeline " + copy.id() + " reached timeline " + state.id());
        }
        if (state.created() && state.server().walSegSize() != copy.server().walSegSize()) {
            // A greeting opened the WAL store with its segment size already.
            throw new AcceptorException("copy of timeline " + copy.id() + " refused: wal_seg_size "
                    + copy.server().walSegSize() + ", but a greeting created it with " + state.server().walSegSize());
        }
        if (copy.history().isEmpty() || Long.compareUnsigned(copy.history().lastTerm(), copy.term()) > 0
                || Long.compareUnsigned(copy.history().lastTerm(), copy.walTerm()) > 0) {
            throw new AcceptorException("copy of timeline " + copy.id() + " refused: term " + copy.term()
                    + " with history " + copy.history());
        }
        if (!copy.localStartLsn().isValid() || copy.limit().compareTo(copy.localStartLsn()) < 0) {
            throw new AcceptorException("copy of timeline " + copy.id() + " refused: no WAL between its start "
                    + copy.localStartLsn() + " and " + copy.limit());
        }
        store.persist(List.of(new AcceptorEvent.TimelineCopied(copy.id(), copy.server(), copy.mconf(), copy.term(),
                copy.history(), copy.timelineStartLsn(), copy.localStartLsn(), copy.timelineStartLsn(),
                Lsn.min(copy.peerHorizonLsn(), copy.limit()))), afterDurable);
        openWal.run();
        try {
            wal.initialize(copy.localStartLsn());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot initialise WAL at " + copy.localStartLsn(), e);
        }
        commitLsn = Lsn.max(commitLsn, copy.timelineStartLsn());
        peerHorizonLsn = store.state().peerHorizonLsn();
        proposedCommit = Lsn.min(copy.peerCommitLsn(), copy.limit());
        copyTerm = copy.term();
        copyWalTerm = copy.walTerm();
        copyLimit = copy.limit();
    }

    /** True once a vote, an election or WAL made this timeline ours: a copy would overwrite it. */
    public boolean holdsTimeline() {
        AcceptorState state = store.state();
        return state.term() != 0 || !state.termHistory().isEmpty() || !wal.isEmpty();
    }

    /** WAL of a copy in progress: the copied history's term, no gap, nothing beyond the limit. */
    private void copiedWal(long term, Lsn begin, ByteSlice bytes, Lsn peerCommitLsn) {
        if (term != copyWalTerm || store.state().term() != copyTerm) {
            throw new AcceptorException("copied WAL of term " + term + " refused: the copy took term " + copyWalTerm
                    + "'s WAL, our term is " + store.state().term());
        }
        Lsn writeLsn = wal.writeLsn();
        if (begin.compareTo(writeLsn) > 0) {
            throw new AcceptorException("copied WAL creates a gap: write_lsn " + writeLsn + ", begin " + begin);
        }
        long room = copyLimit.value() - begin.value();
        if (room <= 0) {
            return;
        }
        writeFrom(writeLsn, begin, room >= bytes.length() ? bytes : bytes.slice(0, (int) room));
        if (peerCommitLsn.isValid()) {
            proposedCommit = Lsn.max(proposedCommit, Lsn.min(peerCommitLsn, copyLimit));
        }
        if (wal.writeLsn().compareTo(copyLimit) >= 0) {
            endCopy(); // complete: from now on WAL comes as to any acceptor (a proposer, peer recovery)
        }
    }

    private void endCopy() {
        copyTerm = -1;
        copyWalTerm = -1;
        copyLimit = Lsn.INVALID;
    }

    /** The journaled state with our flush and commit LSN, as {@code TIMELINE_STATE} tells a peer; empty before creation. */
    public Optional<TimelineSnapshot> snapshot() {
        AcceptorState state = store.state();
        if (!state.created()) {
            return Optional.empty();
        }
        ServerInfo server = state.server();
        return Optional.of(new TimelineSnapshot(state.id(), server.pgVersion(), server.systemId(),
                server.walSegSize(), state.mconf(), state.term(), state.termHistory(), state.timelineStartLsn(),
                state.localStartLsn(), flushLsn(), commitLsn, peerHorizonLsn));
    }

    /** Writes the part of {@code [begin, begin + bytes.length())} at or after {@code writeLsn}. */
    private void writeFrom(Lsn writeLsn, Lsn begin, ByteSlice bytes) {
        long skip = writeLsn.value() - begin.value();
        if (skip >= bytes.length()) {
            return;
        }
        ByteSlice rest = bytes.slice((int) skip, bytes.length() - (int) skip);
        try {
            wal.write(writeLsn, rest);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write WAL at " + writeLsn, e);
        }
    }

    /**
     * Makes written WAL durable (the group commit: one fsync for every append since the last), then
     * does what {@link #flushed} does. For callers that may block on the fsync.
     */
    public void flush(Consumer<AcceptorMessage> reply) {
        if (!store.state().created()) {
            return;
        }
        flushWal();
        flushed(reply);
    }

    /**
     * After the WAL store completed a flush (run elsewhere, e.g. by the timeline's flusher):
     * advances the commit LSN within what is flushed and answers the appends since the last
     * answer, with one AppendResponse. Journals the horizons lazily: flush per segment, commit per
     * segment or when it crosses the term start.
     */
    public void flushed(Consumer<AcceptorMessage> reply) {
        if (!store.state().created()) {
            return;
        }
        Lsn flush = flushLsn();
        Lsn newCommit = Lsn.max(commitLsn, Lsn.min(proposedCommit, flush));
        AcceptorState state = store.state();
        boolean crossedTermStart = commitLsn.compareTo(termStartLsn) < 0 && newCommit.compareTo(termStartLsn) >= 0;
        commitLsn = newCommit;
        long segment = state.server().walSegSize();
        if (crossedTermStart || commitLsn.value() - state.commitLsn().value() >= segment) {
            store.persist(List.of(new AcceptorEvent.CommitAdvanced(commitLsn, peerHorizonLsn)), () -> { });
        }
        if (flush.value() / segment != state.flushCheckpoint().value() / segment) {
            store.persist(List.of(new AcceptorEvent.FlushCheckpointed(flush)), () -> { });
        }
        if (responseOwed || !flush.equals(lastReportedFlush)) {
            responseOwed = false;
            lastReportedFlush = flush;
            reply.accept(new AppendResponse(state.mconf().generation(), state.term(), flush, commitLsn,
                    HotStandbyFeedback.EMPTY, null));
        }
    }

    /** Journals the in-memory horizons now (on drain/shutdown), so a restart starts from them. */
    public void checkpoint() {
        AcceptorState state = store.state();
        if (!state.created()) {
            return;
        }
        flushWal();
        Lsn flush = flushLsn();
        if (!commitLsn.equals(state.commitLsn()) || !peerHorizonLsn.equals(state.peerHorizonLsn())) {
            store.persist(List.of(new AcceptorEvent.CommitAdvanced(commitLsn, peerHorizonLsn)), () -> { });
        }
        if (!flush.equals(state.flushCheckpoint())) {
            store.persist(List.of(new AcceptorEvent.FlushCheckpointed(flush)), () -> { });
        }
    }

    private void flushWal() {
        try {
            wal.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot fsync WAL", e);
        }
    }
}
