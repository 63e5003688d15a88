package dev.walkeeper.actors.consensus;

import dev.walkeeper.persistence.CborSerializable;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;

/**
 * An acceptor's durable state (Neon's control file): what survives a restart. {@code term} is
 * the highest term voted for; {@code termHistory} the proposer history installed last (it may
 * reach beyond our WAL); the LSNs are horizons persisted lazily except where a rule says
 * otherwise. {@code id == null} until the first greeting created the timeline.
 */
public record AcceptorState(TenantTimelineId id, ServerInfo server, MembershipConfiguration mconf, long term,
                            TermHistory termHistory, Lsn timelineStartLsn, Lsn localStartLsn, Lsn commitLsn,
                            Lsn peerHorizonLsn, Lsn flushCheckpoint) implements CborSerializable {

    public static final AcceptorState EMPTY = new AcceptorState(null, null, MembershipConfiguration.EMPTY, 0,
            TermHistory.EMPTY, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID);

    public boolean created() {
        return id != null;
    }

    /** The one place an event changes state: used by recovery, by the actor and by test fakes alike. */
    public AcceptorState apply(AcceptorEvent event) {
        if (event instanceof AcceptorEvent.TimelineCreated e) {
            return new AcceptorState(e.id(), e.server(), e.mconf(), term, termHistory, timelineStartLsn,
                    localStartLsn, commitLsn, peerHorizonLsn, flushCheckpoint);
        }
        if (event instanceof AcceptorEvent.TimelineCopied e) {
            return new AcceptorState(e.id(), e.server(), e.mconf(), e.term(), e.history(), e.timelineStartLsn(),
                    e.localStartLsn(), e.commitLsn(), e.peerHorizonLsn(), Lsn.INVALID);
        }
        if (event instanceof AcceptorEvent.SystemIdAdopted e) {
            return new AcceptorState(id, server.withSystemId(e.systemId()), mconf, term, termHistory,
                    timelineStartLsn, localStartLsn, commitLsn, peerHorizonLsn, flushCheckpoint);
        }
        if (event instanceof AcceptorEvent.TermVoted e) {
            return new AcceptorState(id, server, mconf, e.term(), termHistory, timelineStartLsn, localStartLsn,
                    commitLsn, peerHorizonLsn, flushCheckpoint);
        }
        if (event instanceof AcceptorEvent.TermHistoryInstalled e) {
            Lsn timelineStart = timelineStartLsn.isValid() ? timelineStartLsn : e.history().entries().get(0).lsn();
            Lsn localStart = localStartLsn.isValid() ? localStartLsn : e.startStreamingAt();
            return new AcceptorState(id, server, mconf, Math.max(term, e.term()), e.history(), timelineStart,
                    localStart, Lsn.max(commitLsn, timelineStart), Lsn.max(peerHorizonLsn, timelineStart),
                    flushCheckpoint.compareTo(e.startStreamingAt()) > 0 ? e.startStreamingAt() : flushCheckpoint);
        }
        if (event instanceof AcceptorEvent.CommitAdvanced e) {
            return new AcceptorState(id, server, mconf, term, termHistory, timelineStartLsn, localStartLsn,
                    Lsn.max(commitLsn, e.commitLsn()), Lsn.max(peerHorizonLsn, e.peerHorizonLsn()), flushCheckpoint);
        }
        AcceptorEvent.FlushCheckpointed e = (AcceptorEvent.FlushCheckpointed) event;
        return new AcceptorState(id, server, mconf, term, termHistory, timelineStartLsn, localStartLsn, commitLsn,
                peerHorizonLsn, e.flushLsn());
    }

    /** Term of the last history entry that our WAL reaches (0 if none): what elections compare. */
    public long lastLogTerm(Lsn flushLsn) {
        return termHistory.upTo(flushLsn).lastTerm();
    }
}
