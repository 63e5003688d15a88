package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.consensus.Acceptor;
import dev.walkeeper.actors.consensus.AcceptorEvent;
import dev.walkeeper.actors.consensus.AcceptorException;
import dev.walkeeper.actors.consensus.AcceptorState;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.persistence.wal.WalSyncFailedException;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

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
public final class Timeline extends EventSourcedBehavior<Timeline.Command, AcceptorEvent, AcceptorState> {

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
    public record RecoveredWal(long term, Lsn begin, byte[] wal, Lsn peerCommitLsn, ActorRef<RecoveryReply> replyTo)
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

    private enum FlushDue implements Command { INSTANCE }

    /** Sent by {@link GroupCommit}: a flush is due. */
    static final Command FLUSH_DUE = FlushDue.INSTANCE;

    /** The flusher ran {@code job}: it failed if {@code failure} is set. */
    record FlushDone(WalStore.FlushJob job, IOException failure) implements Command {}

    private record ProposerGone(ActorRef<?> connection) implements Command {}

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
        return Behaviors.setup(ctx -> new Timeline(ctx, id, nodeId, walStores, downstreams, syncFailures,
                !awaitPushRole));
    }

    public static PersistenceId persistenceId(TenantTimelineId id) {
        return PersistenceId.of("timeline", id.tenantId() + "-" + id.timelineId());
    }

    private final ActorContext<Command> context;
    private final TenantTimelineId id;
    private final long nodeId;
    private final WalStores walStores;
    private final JournalBridge journal = new JournalBridge();
    private final WalHolder wal = new WalHolder();
    private Acceptor acceptor;
    private ActorRef<ProposerReply> attached;
    private ActorRef<?> attachedConnection;
    private final java.util.Set<ActorRef<?>> watchedConnections = new java.util.HashSet<>();
    private final CommitTrace trace;
    private final GroupCommit groupCommit;
    /** Why the timeline refuses service for good, or null. */
    private String unavailable;
    private final Map<TenantTimelineId, String> syncFailures;
    private final java.util.Set<ActorRef<PositionsEvent>> watchers = new java.util.HashSet<>();
    private Positions lastPositions;
    private final java.util.Map<String, WalConsumer> consumers = new java.util.TreeMap<>();
    /** The push replicators, while this node pushes and the timeline exists. */
    private final TimelinePushers pushers;

    private Timeline(ActorContext<Command> context, TenantTimelineId id, long nodeId, WalStores walStores,
                     List<PushReplicator.Downstream> downstreams, Map<TenantTimelineId, String> syncFailures,
                     boolean pushRole) {
        super(persistenceId(id));
        this.syncFailures = syncFailures;
        this.unavailable = syncFailures.get(id);
        this.pushers = new TimelinePushers(context, id, nodeId, walStores.directory(id), downstreams, pushRole);
        this.context = context;
        this.id = id;
        this.nodeId = nodeId;
        this.walStores = walStores;
        this.trace = CommitTrace.get(context.getSystem());
        this.groupCommit = new GroupCommit(context, wal, trace);
    }

    @Override
    public AcceptorState emptyState() {
        return AcceptorState.EMPTY;
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        // Recovery reads the latest snapshot and at most this many events after it.
        return RetentionCriteria.snapshotEvery(100, 2);
    }

    @Override
    public SignalHandler<AcceptorState> signalHandler() {
        return newSignalHandlerBuilder()
                .onSignal(RecoveryCompleted.instance(), state -> {
                    journal.begin(state);
                    acceptor = new Acceptor(nodeId, journal, wal);
                    openWalOnceCreated(state);
                })
                // A restarted timeline reopens its WAL and finds its end again: nothing may hold it.
                .onSignal(PreRestart.instance(), state -> {
                    interruptClients("timeline " + id + " restarts after an error; reconnect");
                    closeWal();
                })
                .onSignal(PostStop.instance(), state -> closeWal())
                .build();
    }

    @Override
    public EventHandler<AcceptorState, AcceptorEvent> eventHandler() {
        return newEventHandlerBuilder().forAnyState().onAnyEvent(AcceptorState::apply);
    }

    @Override
    public CommandHandler<Command, AcceptorEvent, AcceptorState> commandHandler() {
        return newCommandHandlerBuilder().forAnyState()
                .onCommand(FromProposer.class, this::onProposerMessage)
                .onCommand(RecoveredWal.class, this::onRecoveredWal)
                .onCommand(InstallCopy.class, this::onInstallCopy)
                .onCommand(GetSnapshot.class, (state, get) -> {
                    get.replyTo().tell(new SnapshotReply(unavailable == null && acceptor != null
                            ? acceptor.snapshot().orElse(null) : null));
                    return Effect().none();
                })
                .onCommand(FlushDue.class, (state, flush) -> onFlushDue(state))
                .onCommand(FlushDone.class, this::onFlushDone)
                .onCommand(ProposerGone.class, this::onProposerGone)
                .onCommand(GetStatus.class, this::onGetStatus)
                .onCommand(WatchPositions.class, this::onWatchPositions)
                .onCommand(ConsumerReport.class, (state, report) -> {
                    consumers.put(report.consumer().name(), report.consumer());
                    return Effect().none();
                })
                .onCommand(ConsumerGone.class, (state, gone) -> {
                    consumers.remove(gone.name());
                    return Effect().none();
                })
                .onCommand(GetConsumers.class, (state, get) -> {
                    get.replyTo().tell(new Consumers(List.copyOf(consumers.values()), pushers.running(),
                            state.created() ? acceptor.commitLsn() : Lsn.INVALID));
                    return Effect().none();
                })
                .onCommand(WatcherGone.class, (state, gone) -> {
                    watchers.remove(gone.subscriber());
                    pushers.unwatch(gone.subscriber());
                    return Effect().none();
                })
                .onCommand(PushRole.class, this::onPushRole)
                .onCommand(RegisteredDownstreams.class, (state, registered) -> {
                    if (pushers.setRegistered(registered.downstreams())) {
                        startPushers(state);
                    }
                    return Effect().none();
                })
                .onCommand(PusherStopped.class, (state, stopped) -> {
                    if (pushers.stopped(stopped.pusher())) {
                        startPushers(state);
                    }
                    return Effect().none();
                })
                .onCommand(WatchPush.class, (state, watch) -> {
                    pushers.watch(watch.subscriber());
                    return Effect().none();
                })
                .onCommand(DownstreamFlushed.class, (state, flushed) -> {
                    pushers.flushed(flushed.flushed());
                    return Effect().none();
                })
                .build();
    }

    private Effect<AcceptorEvent, AcceptorState> onProposerMessage(AcceptorState state, FromProposer command) {
        journal.begin(state);
        ActorRef<ProposerReply> replyTo = command.replyTo();
        // One watch per connection, not one per message (a hot-path cost).
        if (watchedConnections.add(command.connection())) {
            context.watchWith(command.connection(), new ProposerGone(command.connection()));
        }
        boolean append = command.message() instanceof ProposerMessage.AppendRequest;
        if (append) {
            trace.stamp(Stage.NODE_AT_TIMELINE, ((ProposerMessage.AppendRequest) command.message()).endLsn().value());
        }
        if (unavailable != null) {
            replyTo.tell(new Failed(unavailable, false));
            replyTo.tell(new Processed());
            return Effect().none();
        }
        try {
            long electedBefore = acceptor.electedTerm();
            acceptor.handle(command.message(), command.allowTimelineCreation(), m -> replyTo.tell(new Reply(m)));
            openWalOnceCreated(journal.state());
            if (acceptor.electedTerm() != electedBefore) {
                attach(command.connection(), replyTo, acceptor.electedTerm());
            }
            if (append) {
                trace.stamp(Stage.NODE_WRITTEN, ((ProposerMessage.AppendRequest) command.message()).endLsn().value());
            }
            if (append) {
                groupCommit.request();
            } else {
                // A vote or an election may change the term: recovery streams served from here stop.
                publishPositions(journal.state());
            }
        } catch (AcceptorException e) {
            context.getLog().info("timeline {}: refusing proposer message: {}", id, e.getMessage());
            replyTo.tell(new Failed(e.getMessage(), e.silent()));
        } catch (UncheckedIOException e) {
            if (!(e.getCause() instanceof WalSyncFailedException failed)) {
                throw e;
            }
            boolean toAttached = replyTo.equals(attached);
            becomeUnavailable(failed);
            if (!toAttached) {
                replyTo.tell(new Failed(unavailable, false));
            }
        }
        replyTo.tell(new Processed());
        return journal.effect();
    }

    private Effect<AcceptorEvent, AcceptorState> onRecoveredWal(AcceptorState state, RecoveredWal recovered) {
        if (unavailable != null) {
            recovered.replyTo().tell(new RecoveryRefused(unavailable));
            return Effect().none();
        }
        journal.begin(state);
        try {
            acceptor.recovered(recovered.term(), recovered.begin(), recovered.wal(), recovered.peerCommitLsn());
            groupCommit.request();
            recovered.replyTo().tell(new RecoveryWritten(recovered.begin().plus(recovered.wal().length)));
        } catch (AcceptorException e) {
            context.getLog().info("timeline {}: refusing recovered WAL: {}", id, e.getMessage());
            recovered.replyTo().tell(new RecoveryRefused(e.getMessage()));
        } catch (UncheckedIOException e) {
            if (!(e.getCause() instanceof WalSyncFailedException failed)) {
                throw e;
            }
            becomeUnavailable(failed);
            recovered.replyTo().tell(new RecoveryRefused(unavailable));
        }
        return journal.effect();
    }

    private Effect<AcceptorEvent, AcceptorState> onInstallCopy(AcceptorState state, InstallCopy install) {
        if (unavailable != null) {
            install.replyTo().tell(new CopyRefused(unavailable, false));
            return Effect().none();
        }
        journal.begin(state);
        if (acceptor.holdsTimeline()) {
            install.replyTo().tell(new CopyRefused("timeline " + id + " is already present on this node (term "
                    + state.term() + ", flush " + acceptor.flushLsn() + ")", true));
            return Effect().none();
        }
        try {
            acceptor.copied(install.copy(), () -> openWalOnceCreated(journal.state()), () -> {
                install.replyTo().tell(new CopyInstalled());
                publishPositions(acceptor.state());
            });
            context.getLog().info("timeline {}: installing a copy in term {} with history {}, WAL from {} to {}", id,
                    install.copy().term(), install.copy().history(), install.copy().localStartLsn(),
                    install.copy().limit());
        } catch (AcceptorException e) {
            install.replyTo().tell(new CopyRefused(e.getMessage(), false));
        }
        return journal.effect();
    }

    private void attach(ActorRef<?> connection, ActorRef<ProposerReply> replyTo, long term) {
        if (attached != null && !attached.equals(replyTo)) {
            attached.tell(new Superseded(term));
        }
        attached = replyTo;
        attachedConnection = connection;
        context.getLog().info("timeline {}: proposer elected in term {} attached", id, term);
    }

    private Effect<AcceptorEvent, AcceptorState> onFlushDue(AcceptorState state) {
        if (groupCommit.deferBehindQueued(unavailable == null) || unavailable != null) {
            return Effect().none();
        }
        journal.begin(state);
        startFlush();
        return journal.effect();
    }

    private void startFlush() {
        try {
            groupCommit.start(this::completeFlush);
        } catch (WalSyncFailedException e) {
            becomeUnavailable(e);
        } catch (IOException e) {
            throw new UncheckedIOException("timeline " + id + ": cannot flush WAL", e);
        }
    }

    private void completeFlush(WalStore.FlushJob job) throws IOException {
        // Stale after a truncation (a new election): its appends' terms are over.
        if (wal.completeFlush(job)) {
            acceptor.flushed(replyToAttached());
        }
        publishPositions(journal.state());
    }

    private Effect<AcceptorEvent, AcceptorState> onFlushDone(AcceptorState state, FlushDone done) {
        if (!groupCommit.finished(done) || unavailable != null) {
            return Effect().none();
        }
        journal.begin(state);
        try {
            if (done.failure() != null) {
                throw done.failure();
            }
            trace.stamp(Stage.FLUSH_DONE_AT_TIMELINE, done.job().target().value());
            completeFlush(done.job());
        } catch (WalSyncFailedException e) {
            becomeUnavailable(e);
            return journal.effect();
        } catch (IOException e) {
            throw new UncheckedIOException("timeline " + id + ": cannot flush WAL", e);
        }
        if (groupCommit.takeWanted()) {
            startFlush();
        }
        return journal.effect();
    }

    /**
     * An fsync failed: what the page cache holds may never reach the disk, and a retried fsync
     * could pretend it did. The timeline refuses service until the process restarts.
     */
    private void becomeUnavailable(WalSyncFailedException e) {
        if (unavailable != null) {
            return;
        }
        unavailable = "timeline " + id + " is unavailable: " + e.getMessage()
                + (e.getCause() != null ? " (" + e.getCause().getMessage() + ")" : "");
        syncFailures.put(id, unavailable);
        context.getLog().error("timeline {}: WAL fsync failed; refusing service until the node restarts", id, e);
        interruptClients(unavailable);
    }

    /** The attached proposer fails and position subscribers are interrupted: their streams end. */
    private void interruptClients(String reason) {
        if (attached != null) {
            attached.tell(new Failed(reason, false));
        }
        attached = null;
        attachedConnection = null;
        Interrupted interrupted = new Interrupted(reason);
        watchers.forEach(w -> w.tell(interrupted));
        watchers.clear();
    }

    private Consumer<AcceptorMessage> replyToAttached() {
        ActorRef<ProposerReply> target = attached;
        return m -> {
            if (target != null) {
                target.tell(new Reply(m));
            }
        };
    }

    private Effect<AcceptorEvent, AcceptorState> onProposerGone(AcceptorState state, ProposerGone gone) {
        journal.begin(state);
        watchedConnections.remove(gone.connection());
        if (gone.connection().equals(attachedConnection)) {
            attached = null;
            attachedConnection = null;
            // Neon flushes on disconnect: what was written becomes durable and checkpointed.
            try {
                acceptor.checkpoint();
            } catch (UncheckedIOException e) {
                if (!(e.getCause() instanceof WalSyncFailedException failed)) {
                    throw e;
                }
                becomeUnavailable(failed);
            }
        }
        return journal.effect();
    }

    private Effect<AcceptorEvent, AcceptorState> onGetStatus(AcceptorState state, GetStatus get) {
        if (!state.created()) {
            get.replyTo().tell(new Status(false, 0, 0, Lsn.INVALID, Lsn.INVALID, 0, 0, walStores.directory(id)));
        } else {
            Positions p = positions(state);
            get.replyTo().tell(new Status(true, p.term(), p.lastLogTerm(), p.flushLsn(), p.commitLsn(),
                    state.server().systemId(), state.server().walSegSize(), walStores.directory(id), unavailable));
        }
        return Effect().none();
    }

    private Effect<AcceptorEvent, AcceptorState> onWatchPositions(AcceptorState state, WatchPositions watch) {
        if (unavailable != null) {
            watch.subscriber().tell(new Interrupted(unavailable));
            return Effect().none();
        }
        if (watchers.add(watch.subscriber())) {
            context.watchWith(watch.subscriber(), new WatcherGone(watch.subscriber()));
        }
        watch.subscriber().tell(positions(state));
        return Effect().none();
    }

    private Positions positions(AcceptorState state) {
        Lsn flush = acceptor.flushLsn();
        return new Positions(state.term(), state.lastLogTerm(flush), flush, acceptor.commitLsn());
    }

    /** Tells the WAL senders how far they may now go. */
    private void publishPositions(AcceptorState state) {
        if ((watchers.isEmpty() && pushers.isEmpty()) || !state.created()) {
            return;
        }
        Positions now = positions(state);
        if (!now.equals(lastPositions)) {
            if (lastPositions == null || !now.commitLsn().equals(lastPositions.commitLsn())) {
                pushers.commitAdvanced(now.commitLsn());
            }
            lastPositions = now;
            watchers.forEach(w -> w.tell(now));
        }
    }

    private void openWalOnceCreated(AcceptorState state) {
        if (wal.isOpen() || !state.created() || unavailable != null) {
            return;
        }
        startPushers(state);
        try {
            // The end of WAL is found by decoding from a record boundary we journaled.
            wal.open(walStores.open(id, state.server(), Lsn.max(state.flushCheckpoint(), state.commitLsn())));
        } catch (IOException e) {
            throw new UncheckedIOException("timeline " + id + ": cannot open WAL", e);
        }
    }

    private Effect<AcceptorEvent, AcceptorState> onPushRole(AcceptorState state, PushRole role) {
        if (pushers.setRole(role.push())) {
            startPushers(state);
        }
        return Effect().none();
    }

    /** Once the timeline exists (and serves): pushers read its committed WAL, never past what they are told. */
    private void startPushers(AcceptorState state) {
        if (state.created() && acceptor != null && unavailable == null) {
            pushers.startIfDue(state.server(), Lsn.max(state.commitLsn(), acceptor.commitLsn()));
        }
    }

    private void closeWal() {
        try {
            wal.close();
        } catch (IOException e) {
            context.getLog().warn("timeline {}: closing WAL: {}", id, e.toString());
        }
    }

    /**
     * The acceptor's view of the journal inside one command: events apply to a working state at
     * once (the acceptor sees its own changes), and are persisted when the command's effect runs;
     * the callbacks (replies that wait for durability) run after the journal confirmed the write.
     */
    private final class JournalBridge implements Acceptor.StateStore {
        private AcceptorState working = AcceptorState.EMPTY;
        private final List<AcceptorEvent> events = new ArrayList<>();
        private final List<Runnable> afterDurable = new ArrayList<>();

        void begin(AcceptorState state) {
            working = state;
            events.clear();
            afterDurable.clear();
        }

        @Override
        public AcceptorState state() {
            return working;
        }

        @Override
        public void persist(List<AcceptorEvent> newEvents, Runnable then) {
            for (AcceptorEvent e : newEvents) {
                working = working.apply(e);
            }
            events.addAll(newEvents);
            afterDurable.add(then);
        }

        Effect<AcceptorEvent, AcceptorState> effect() {
            List<AcceptorEvent> toPersist = List.copyOf(events);
            List<Runnable> callbacks = List.copyOf(afterDurable);
            events.clear();
            afterDurable.clear();
            if (toPersist.isEmpty()) {
                callbacks.forEach(Runnable::run);
                return Effect().none();
            }
            return Effect().persist(toPersist).thenRun(s -> callbacks.forEach(Runnable::run));
        }
    }
}
