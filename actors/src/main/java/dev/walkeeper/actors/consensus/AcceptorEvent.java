package dev.walkeeper.actors.consensus;

import dev.walkeeper.persistence.CborSerializable;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;

/** What happened to an acceptor's durable state; journaled, replayed on recovery. */
public sealed interface AcceptorEvent extends CborSerializable {

    /** The first greeting created the timeline. */
    record TimelineCreated(TenantTimelineId id, ServerInfo server, MembershipConfiguration mconf)
            implements AcceptorEvent {}

    /** A greeting carried the cluster's system id where ours was unknown or different. */
    record SystemIdAdopted(long systemId) implements AcceptorEvent {}

    /** A vote for {@code term} was granted; must be durable before the VoteResponse leaves. */
    record TermVoted(long term) implements AcceptorEvent {}

    /**
     * A proposer elected in {@code term} installed its history; our WAL was truncated at
     * {@code startStreamingAt} first. The start LSNs are set once, by the first election.
     */
    record TermHistoryInstalled(long term, TermHistory history, Lsn startStreamingAt) implements AcceptorEvent {}

    /**
     * The timeline was copied from a peer (an empty node replacing a lost one): its server info,
     * term, term history and start LSNs, journaled before any of the peer's WAL is taken and before
     * the node answers a proposer with them. The flush checkpoint starts unset: the WAL follows.
     */
    record TimelineCopied(TenantTimelineId id, ServerInfo server, MembershipConfiguration mconf, long term,
                          TermHistory history, Lsn timelineStartLsn, Lsn localStartLsn, Lsn commitLsn,
                          Lsn peerHorizonLsn) implements AcceptorEvent {}

    /** The commit LSN (and the peer horizon) advanced; journaled lazily, recomputed after a crash. */
    record CommitAdvanced(Lsn commitLsn, Lsn peerHorizonLsn) implements AcceptorEvent {}

    /**
     * WAL up to {@code flushLsn} was durable at some point; a record boundary from which the end
     * of WAL is found again on restart, so that scan costs O(one segment).
     */
    record FlushCheckpointed(Lsn flushLsn) implements AcceptorEvent {}
}
