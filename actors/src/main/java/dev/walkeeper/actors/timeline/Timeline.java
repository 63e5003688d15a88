package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.consensus.Acceptor;
import dev.walkeeper.actors.consensus.AcceptorEvent;
import dev.walkeeper.actors.consensus.AcceptorException;
import dev.walkeeper.actors.consensus.AcceptorState;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
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
 * made durable by one fsync per batch: after a write the actor sends itself {@link FlushDue},
 * which queues behind the appends already in its mailbox, so it runs once they are all written.
 * The actor runs on a blocking dispatcher: its fsyncs never hold up another timeline's thread.
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

    /** Current positions, for TIMELINE_STATUS and IDENTIFY_SYSTEM. */
    public record GetStatus(ActorRef<Status> replyTo) implements Command {}

    /**
     * Current positions, and where the WAL is for serving it; {@code lastLogTerm} is the term of
     * our last WAL (what recovery clients compare).
     */
    public record Status(boolean exists, long term, long lastLogTerm, Lsn flushLsn, Lsn commitLsn, long systemId,
                         int walSegSize, Path walDirectory) {}

    /**
     * Subscribes to the positions WAL may be served up to: the subscriber gets a {@link Positions}
     * now and after every flush that moved them, until it stops.
     */
    public record WatchPositions(ActorRef<Positions> subscriber) implements Command {}

    public record Positions(long term, long lastLogTerm, Lsn flushLsn, Lsn commitLsn) {}

    private record WatcherGone(ActorRef<Positions> subscriber) implements Command {}

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

    private enum FlushDue implements Command { INSTANCE }

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
        return create(id, nodeId, walStores, List.of());
    }

    /** With the downstreams this timeline's committed WAL is pushed to (START_PUSH_REPLICATION). */
    public static Behavior<Command> create(TenantTimelineId id, long nodeId, WalStores walStores,
                                           List<PushReplicator.Downstream> downstreams) {
        return Behaviors.setup(ctx -> new Timeline(ctx, id, nodeId, walStores, downstreams));
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
    private boolean flushScheduled;
    private final java.util.Set<ActorRef<Positions>> watchers = new java.util.HashSet<>();
    private Positions lastPositions;
    private final java.util.Map<String, WalConsumer> consumers = new java.util.TreeMap<>();
    private final List<PushReplicator.Downstream> downstreams;
    /** One per downstream, started once the timeline exists; told every commit advance. */
    private final List<ActorRef<PushReplicator.Command>> pushers = new ArrayList<>();

    private Timeline(ActorContext<Command> context, TenantTimelineId id, long nodeId, WalStores walStores,
                     List<PushReplicator.Downstream> downstreams) {
        super(persistenceId(id));
        this.downstreams = List.copyOf(downstreams);
        this.context = context;
        this.id = id;
        this.nodeId = nodeId;
        this.walStores = walStores;
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
                .onCommand(FlushDue.class, (state, flush) -> onFlushDue(state))
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
                    get.replyTo().tell(new Consumers(List.copyOf(consumers.values()), List.copyOf(pushers),
                            state.created() ? acceptor.commitLsn() : Lsn.INVALID));
                    return Effect().none();
                })
                .onCommand(WatcherGone.class, (state, gone) -> {
                    watchers.remove(gone.subscriber());
                    return Effect().none();
                })
                .build();
    }

    private Effect<AcceptorEvent, AcceptorState> onProposerMessage(AcceptorState state, FromProposer command) {
        journal.begin(state);
        ActorRef<ProposerReply> replyTo = command.replyTo();
        context.watchWith(command.connection(), new ProposerGone(command.connection()));
        try {
            long electedBefore = acceptor.electedTerm();
            acceptor.handle(command.message(), command.allowTimelineCreation(), m -> replyTo.tell(new Reply(m)));
            openWalOnceCreated(journal.state());
            if (acceptor.electedTerm() != electedBefore) {
                attach(command.connection(), replyTo, acceptor.electedTerm());
            }
            if (command.message() instanceof ProposerMessage.AppendRequest && !flushScheduled) {
                flushScheduled = true;
                context.getSelf().tell(FlushDue.INSTANCE);
            }
        } catch (AcceptorException e) {
            context.getLog().info("timeline {}: refusing proposer message: {}", id, e.getMessage());
            replyTo.tell(new Failed(e.getMessage(), e.silent()));
        }
        replyTo.tell(new Processed());
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
        flushScheduled = false;
        journal.begin(state);
        acceptor.flush(replyToAttached());
        publishPositions(journal.state());
        return journal.effect();
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
        if (gone.connection().equals(attachedConnection)) {
            attached = null;
            attachedConnection = null;
            // Neon flushes on disconnect: what was written becomes durable and checkpointed.
            acceptor.checkpoint();
        }
        return journal.effect();
    }

    private Effect<AcceptorEvent, AcceptorState> onGetStatus(AcceptorState state, GetStatus get) {
        if (!state.created()) {
            get.replyTo().tell(new Status(false, 0, 0, Lsn.INVALID, Lsn.INVALID, 0, 0, walStores.directory(id)));
        } else {
            Positions p = positions(state);
            get.replyTo().tell(new Status(true, p.term(), p.lastLogTerm(), p.flushLsn(), p.commitLsn(),
                    state.server().systemId(), state.server().walSegSize(), walStores.directory(id)));
        }
        return Effect().none();
    }

    private Effect<AcceptorEvent, AcceptorState> onWatchPositions(AcceptorState state, WatchPositions watch) {
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
                pushers.forEach(p -> p.tell(new PushReplicator.CommitAdvanced(now.commitLsn())));
            }
            lastPositions = now;
            watchers.forEach(w -> w.tell(now));
        }
    }

    private void openWalOnceCreated(AcceptorState state) {
        if (wal.isOpen() || !state.created()) {
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

    /** Pushers read committed WAL from the timeline's directory, never past what they are told. */
    private void startPushers(AcceptorState state) {
        for (PushReplicator.Downstream downstream : downstreams) {
            PushReplicator.Source source = new PushReplicator.Source(id, state.server().systemId(),
                    state.server().walSegSize(), state.server().pgVersion(), walStores.directory(id), nodeId);
            // It reads segment files: off the default dispatcher.
            pushers.add(context.spawn(PushReplicator.create(downstream, source, state.commitLsn(),
                    PushReplicator.Tuning.DEFAULTS), PushReplicator.actorName(downstream.address()),
                    DispatcherSelector.blocking()));
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

    /**
     * The acceptor's WAL store. A timeline's WAL can only be opened once the first greeting told
     * what it is (PostgreSQL version, segment size); until then the store is empty and refuses
     * writes — the greeting never touches WAL.
     */
    private static final class WalHolder implements WalStore {
        private WalStore store;

        boolean isOpen() {
            return store != null;
        }

        void open(WalStore opened) {
            store = opened;
        }

        private WalStore store() {
            if (store == null) {
                throw new AcceptorException("proposer message before greeting");
            }
            return store;
        }

        @Override public boolean isEmpty() { return store == null || store.isEmpty(); }
        @Override public Lsn writeLsn() { return store == null ? Lsn.INVALID : store.writeLsn(); }
        @Override public Lsn writeRecordLsn() { return store == null ? Lsn.INVALID : store.writeRecordLsn(); }
        @Override public Lsn flushRecordLsn() { return store == null ? Lsn.INVALID : store.flushRecordLsn(); }
        @Override public void initialize(Lsn start) throws IOException { store().initialize(start); }
        @Override public void write(Lsn begin, byte[] bytes) throws IOException { store().write(begin, bytes); }
        @Override public void flush() throws IOException { if (store != null) { store.flush(); } }
        @Override public void truncate(Lsn end) throws IOException { store().truncate(end); }
        @Override public void close() throws IOException { if (store != null) { store.close(); } }
    }
}
