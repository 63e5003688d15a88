package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.consensus.Acceptor;
import dev.walkeeper.actors.consensus.AcceptorEvent;
import dev.walkeeper.actors.consensus.AcceptorException;
import dev.walkeeper.actors.consensus.AcceptorState;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.metrics.NodeMetrics;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.persistence.wal.WalSyncFailedException;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;
import dev.walkeeper.actors.timeline.Timeline.*;

/** The behaviour of a {@link Timeline} (its protocol and factories are there). */
final class TimelineActor extends EventSourcedBehavior<Timeline.Command, AcceptorEvent, AcceptorState> {

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
    private final NodeMetrics.TimelineMetrics metrics;
    /** Why the timeline refuses service for good, or null. */
    private String unavailable;
    private final Map<TenantTimelineId, String> syncFailures;
    private final java.util.Set<ActorRef<PositionsEvent>> watchers = new java.util.HashSet<>();
    private Positions lastPositions;
    private final java.util.Map<String, WalConsumer> consumers = new java.util.TreeMap<>();
    /** The push replicators, while this node pushes and the timeline exists. */
    private final TimelinePushers pushers;

    TimelineActor(ActorContext<Command> context, TenantTimelineId id, long nodeId, WalStores walStores,
                  List<PushReplicator.Downstream> downstreams, Map<TenantTimelineId, String> syncFailures,
                  boolean pushRole) {
        super(Timeline.persistenceId(id));
        this.syncFailures = syncFailures;
        this.unavailable = syncFailures.get(id);
        this.pushers = new TimelinePushers(context, id, nodeId, walStores.directory(id), downstreams, pushRole);
        this.context = context;
        this.id = id;
        this.nodeId = nodeId;
        this.walStores = walStores;
        this.trace = CommitTrace.get(context.getSystem());
        this.metrics = NodeMetrics.get(context.getSystem()).timeline(id);
        this.groupCommit = new GroupCommit(context, wal, trace, metrics);
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
                ProposerMessage.AppendRequest request = (ProposerMessage.AppendRequest) command.message();
                trace.stamp(Stage.NODE_WRITTEN, request.endLsn().value());
                metrics.walWritten(request.wal().length());
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
            recovered.replyTo().tell(new RecoveryWritten(recovered.begin().plus(recovered.wal().length())));
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
            wal.open(walStores.open(id, state.server(), Lsn.max(state.flushCheckpoint(), state.commitLsn()),
                    context.getSystem().dispatchers().lookup(DispatcherSelector.blocking())));
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
