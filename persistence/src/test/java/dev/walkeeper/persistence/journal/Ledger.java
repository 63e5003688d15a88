package dev.walkeeper.persistence.journal;

import dev.walkeeper.persistence.CborSerializable;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.typed.DeleteEventsCompleted;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.RecoveryFailed;
import org.apache.pekko.persistence.typed.SnapshotCompleted;
import org.apache.pekko.persistence.typed.SnapshotSelectionCriteria;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.Recovery;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;

/**
 * The smallest event-sourced actor that exercises a journal: appends strings and reports to a
 * probe what its recovery read, and which snapshots and deletions completed.
 */
final class Ledger extends EventSourcedBehavior<Ledger.Command, Ledger.Appended, Ledger.State> {

    sealed interface Command {
    }

    /** Persists {@code value}, then replies with its sequence number. */
    record Append(String value, ActorRef<Long> replyTo) implements Command {
    }

    record Appended(String value) implements CborSerializable {
    }

    record State(List<String> entries) implements CborSerializable {
        State append(String value) {
            List<String> longer = new ArrayList<>(entries);
            longer.add(value);
            return new State(longer);
        }
    }

    sealed interface Report {
    }

    /** Recovery finished: the state, how many events were replayed on top of the snapshot, and the last sequence number. */
    record Recovered(List<String> entries, int replayedEvents, long lastSequenceNr) implements Report {
    }

    record RecoveryFailure(Throwable failure) implements Report {
        /** The failure and its causes, one per line, for assertions about what was reported. */
        String causes() {
            StringBuilder causes = new StringBuilder();
            for (Throwable t = failure; t != null; t = t.getCause()) {
                causes.append(t).append('\n');
            }
            return causes.toString();
        }
    }

    record SnapshotSaved(long sequenceNr) implements Report {
    }

    record EventsDeleted(long toSequenceNr) implements Report {
    }

    /**
     * How the ledger uses its journal: the retention (snapshots, deletions) and whether recovery
     * ignores snapshots, to show exactly which events the journal still replays.
     */
    record Options(RetentionCriteria retention, boolean ignoreSnapshots) {
        static final Options PLAIN = new Options(RetentionCriteria.disabled(), false);
    }

    private final ActorContext<Command> context;
    private final ActorRef<Report> reports;
    private final Options options;
    private boolean recovering = true;
    private int replayedEvents;

    private Ledger(ActorContext<Command> context, String persistenceId, ActorRef<Report> reports, Options options) {
        super(PersistenceId.ofUniqueId(persistenceId));
        this.context = context;
        this.reports = reports;
        this.options = options;
    }

    static Behavior<Command> create(String persistenceId, ActorRef<Report> reports, Options options) {
        return Behaviors.setup(context -> new Ledger(context, persistenceId, reports, options));
    }

    @Override
    public State emptyState() {
        return new State(List.of());
    }

    @Override
    public CommandHandler<Command, Appended, State> commandHandler() {
        return newCommandHandlerBuilder().forAnyState()
                .onCommand(Append.class, (state, append) -> Effect().persist(new Appended(append.value()))
                        .thenRun(persisted -> append.replyTo().tell(lastSequenceNumber(context))))
                .build();
    }

    @Override
    public EventHandler<State, Appended> eventHandler() {
        return newEventHandlerBuilder().forAnyState()
                .onEvent(Appended.class, (state, appended) -> {
                    if (recovering) {
                        replayedEvents++;
                    }
                    return state.append(appended.value());
                })
                .build();
    }

    @Override
    public SignalHandler<State> signalHandler() {
        return newSignalHandlerBuilder()
                .onSignal(RecoveryCompleted.instance(), state -> {
                    recovering = false;
                    reports.tell(new Recovered(state.entries(), replayedEvents, lastSequenceNumber(context)));
                })
                .onSignal(RecoveryFailed.class, (state, failed) -> reports.tell(new RecoveryFailure(failed.getFailure())))
                .onSignal(SnapshotCompleted.class, (state, completed) ->
                        reports.tell(new SnapshotSaved(completed.getSnapshotMetadata().sequenceNr())))
                .onSignal(DeleteEventsCompleted.class, (state, deleted) ->
                        reports.tell(new EventsDeleted(deleted.toSequenceNr())))
                .build();
    }

    @Override
    public RetentionCriteria retentionCriteria() {
        return options.retention();
    }

    @Override
    public Recovery recovery() {
        return options.ignoreSnapshots()
                ? Recovery.withSnapshotSelectionCriteria(SnapshotSelectionCriteria.none())
                : super.recovery();
    }
}
