package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.consensus.Acceptor;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.persistence.wal.WalSyncFailedException;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.typed.PersistenceId;

/**
 * One timeline: its acceptor state (event-sourced: every durable change is a journaled event)
 * and its WAL store, driven by the pure {@link Acceptor}. Appends are written as they arrive and
 * made durable in groups by its {@link GroupCommit} (as PostgreSQL's walreceiver and Neon's
 * WalAcceptor do): after a write the actor sends itself {@link FlushDue}, which queues behind the
 * appends already in its mailbox, so it runs once they are all written; a flush job covers them,
 * fsynced by the {@link WalFlusher} child while this actor goes on writing (or here, on an idle
 * I/O loop). When a flush completes the proposer gets one AppendResponse and positions are
 * published.
 *
 * <p>A failed fsync is final ({@link WalSyncFailedException}): the timeline becomes unavailable
 * for good (until the process restarts): its proposer gets {@link Failed}, further proposer
 * messages are refused, {@link Status#unavailable()} says why.
 *
 * <p>At most one proposer is attached: the connection whose ProposerElected was accepted last.
 * AppendResponses go to it; when another proposer is elected, it is told it was superseded.
 */
public final class Timeline {

    private Timeline() {}

    public sealed interface Command {}

    /**
     * A proposer message from a pushing connection; {@code connection} is watched so the timeline
     * learns when it goes away, replies go to {@code replyTo}.
     */
    public record FromProposer(ProposerMessage message, boolean allowTimelineCreation, ActorRef<?> connection,
                               ActorRef<ProposerReply> replyTo) implements Command {}

    /**
     * WAL of {@code term} recovered from a peer (whose commit LSN was {@code peerCommitLsn}),
     * checked by {@link Acceptor#recovered}, written and flushed as appends are; answered with a
     * {@link RecoveryReply}.
     */
    public record RecoveredWal(long term, Lsn begin, ByteSlice wal, Lsn peerCommitLsn, ActorRef<RecoveryReply> replyTo)
            implements Command {}

    /** What a recovery stream hears from its timeline. */
    public sealed interface RecoveryReply {}

    /** Written (not yet flushed: positions watchers learn the flush); the stream may deliver more. */
    public record RecoveryWritten(Lsn end) implements RecoveryReply {}

    /** The acceptor refused the WAL (or the timeline cannot take it): end the stream. */
    public record RecoveryRefused(String reason) implements RecoveryReply {}

    /** The acceptor state, for TIMELINE_STATE: a peer copying the timeline. */
    public record GetSnapshot(ActorRef<SnapshotReply> replyTo) implements Command {}

    /** {@code snapshot} is null when the timeline does not exist here (or is unavailable). */
    public record SnapshotReply(TimelineSnapshot snapshot) {}

    /**
     * Install a copy of the timeline from a peer ({@link Acceptor#copied}): answered with
     * {@link CopyInstalled} once journaled, or {@link CopyRefused}. The peer's WAL then comes as
     * {@link RecoveredWal}.
     */
    public record InstallCopy(Acceptor.Copy copy, ActorRef<CopyReply> replyTo) implements Command {}

    public sealed interface CopyReply {}

    public record CopyInstalled() implements CopyReply {}

    /** {@code present}: the timeline is already held here (a vote, a history or WAL). */
    public record CopyRefused(String reason, boolean present) implements CopyReply {}

    /** Current positions, for TIMELINE_STATUS and IDENTIFY_SYSTEM. */
    public record GetStatus(ActorRef<Status> replyTo) implements Command {}

    /**
     * Current positions, and where the WAL is for serving it; {@code lastLogTerm} is the term of
     * our last WAL (what recovery clients compare).
     */
    public record Status(boolean exists, long term, long lastLogTerm, Lsn flushLsn, Lsn commitLsn, long systemId,
                         int walSegSize, Path walDirectory, String unavailable) {
        public Status(boolean exists, long term, long lastLogTerm, Lsn flushLsn, Lsn commitLsn, long systemId,
                      int walSegSize, Path walDirectory) {
            this(exists, term, lastLogTerm, flushLsn, commitLsn, systemId, walSegSize, walDirectory, null);
        }

        /** True when the timeline refuses service (its WAL could not be made durable). */
        public boolean isUnavailable() {
            return unavailable != null;
        }
    }

    /**
     * Subscribes to the positions WAL may be served up to: the subscriber gets a {@link Positions}
     * now and after every flush that moved them, until it stops.
     */
    public record WatchPositions(ActorRef<PositionsEvent> subscriber) implements Command {}

    /** What a positions subscriber is told. */
    public sealed interface PositionsEvent {}

    public record Positions(long term, long lastLogTerm, Lsn flushLsn, Lsn commitLsn) implements PositionsEvent {}

    /**
     * No more positions will come: the timeline is restarting after an error (its ActorRef
     * survives a restart, so a watch would never tell) or became unavailable. Subscribe again,
     * or end the stream.
     */
    public record Interrupted(String reason) implements PositionsEvent {}

    /**
     * A positions or push subscriber stopped. One message for both kinds: the same actor may
     * subscribe to both, and an actor is watched with one termination message only.
     */
    record WatcherGone(ActorRef<?> subscriber) implements Command {}

    /**
     * A WAL consumer of this timeline and how far it got: pull clients report on every standby
     * status update, push replicators on every downstream reply. {@code name} identifies it.
     */
    public record WalConsumer(String name, String kind, String address, Lsn sentLsn, Lsn flushLsn, Lsn applyLsn) {}

    public record ConsumerReport(WalConsumer consumer) implements Command {}

    public record ConsumerGone(String name) implements Command {}

    public record GetConsumers(ActorRef<Consumers> replyTo) implements Command {}

    /**
     * Every pull consumer, the push replicators (asked for their own status), and the commit LSN
     * lag is measured from.
     */
    public record Consumers(List<WalConsumer> consumers, List<ActorRef<PushReplicator.Command>> pushers,
                            Lsn commitLsn) {}

    /**
     * Whether this node pushes the timeline's committed WAL to its downstreams (one member of a
     * cluster does, see {@link PusherChoice}): its push replicators start (once the timeline
     * exists) or stop. Repeating the current role changes nothing.
     */
    public record PushRole(boolean push) implements Command {}

    /**
     * Subscribes to the push side: the subscriber gets a {@link PushProgress} now and whenever the
     * role or a downstream's durable LSN changes, until it stops.
     */
    public record WatchPush(ActorRef<PushProgress> subscriber) implements Command {}

    /**
     * Whether push replicators run here, and each downstream, configured or registered
     * ({@code host:port}), with the durable LSN it last reported to this node ({@link Lsn#INVALID}
     * before it reported).
     */
    public record PushProgress(boolean pushing, List<ClusterTimelines.DownstreamPosition> downstreams) {
        public PushProgress {
            downstreams = List.copyOf(downstreams);
        }
    }

    /**
     * The downstreams registered at runtime for this timeline ({@code ADD_DOWNSTREAM}), all of
     * them, pushed to besides the configured ones while this node has the push role; told again
     * regularly by the shared state (a restarted actor has forgotten them).
     */
    public record RegisteredDownstreams(List<PushReplicator.Downstream> downstreams) implements Command {
        public RegisteredDownstreams {
            downstreams = List.copyOf(downstreams);
        }
    }

    record DownstreamFlushed(PushReplicator.DownstreamFlushed flushed) implements Command {}

    record PusherStopped(ActorRef<PushReplicator.Command> pusher) implements Command {}

    enum FlushDue implements Command { INSTANCE }

    /** Sent by {@link GroupCommit}: a flush is due. */
    static final Command FLUSH_DUE = FlushDue.INSTANCE;

    /** The flusher ran {@code job}: it failed if {@code failure} is set. */
    record FlushDone(WalStore.FlushJob job, IOException failure) implements Command {}

    record ProposerGone(ActorRef<?> connection) implements Command {}

    /** What a pushing connection hears from its timeline. */
    public sealed interface ProposerReply {}

    /** An acceptor message to send to the proposer. */
    public record Reply(AcceptorMessage message) implements ProposerReply {}

    /** One proposer message was handled: the connection may read another. */
    public record Processed() implements ProposerReply {}

    /** The proposer broke a rule; end the stream (with an ErrorResponse unless {@code silent}). */
    public record Failed(String reason, boolean silent) implements ProposerReply {}

    /** Another proposer was elected in {@code term}; this connection must end. */
    public record Superseded(long term) implements ProposerReply {}

    public static Behavior<Command> create(TenantTimelineId id, long nodeId, WalStores walStores) {
        return create(id, nodeId, walStores, List.of(), new ConcurrentHashMap<>());
    }

    /**
     * With the downstreams this timeline's committed WAL is pushed to (START_PUSH_REPLICATION), and
     * the node's record of timelines whose fsync failed: one there never opens its WAL again in
     * this process (a restart of the actor included), as PostgreSQL never retries a failed fsync.
     */
    public static Behavior<Command> create(TenantTimelineId id, long nodeId, WalStores walStores,
                                           List<PushReplicator.Downstream> downstreams,
                                           Map<TenantTimelineId, String> syncFailures) {
        return create(id, nodeId, walStores, downstreams, syncFailures, false);
    }

    /**
     * As {@link #create(TenantTimelineId, long, WalStores, List, Map)}; with {@code awaitPushRole}
     * (a cluster member, where one member pushes) the downstreams get WAL only once a
     * {@link PushRole} says so, otherwise as soon as the timeline exists. A restarted actor
     * starts over without the role until it is told again.
     */
    public static Behavior<Command> create(TenantTimelineId id, long nodeId, WalStores walStores,
                                           List<PushReplicator.Downstream> downstreams,
                                           Map<TenantTimelineId, String> syncFailures, boolean awaitPushRole) {
        return Behaviors.setup(ctx -> new TimelineActor(ctx, id, nodeId, walStores, downstreams, syncFailures,
                !awaitPushRole));
    }

    public static PersistenceId persistenceId(TenantTimelineId id) {
        return PersistenceId.of("timeline", id.tenantId() + "-" + id.timelineId());
    }
}
