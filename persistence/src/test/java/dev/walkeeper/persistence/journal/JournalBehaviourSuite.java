package dev.walkeeper.persistence.journal;

import static dev.walkeeper.persistence.journal.LedgerProbe.values;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import java.util.List;
import java.util.UUID;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * What walkeeper needs from any journal and snapshot store, run against each configured pair:
 * persisted events come back after a restart, a snapshot bounds the replay, deleted events stay
 * deleted while sequence numbers go on. Every recovery happens in a fresh actor system, so it
 * reads storage, never a plugin's memory.
 */
abstract class JournalBehaviourSuite {

    /** Unique per test: storage may be shared by the tests of a class (one database). */
    protected final String persistenceId = "ledger-" + UUID.randomUUID();
    protected final RestartableSystem system = new RestartableSystem(this::pluginConfig);

    /** Settings that select the plugins under test and their storage, the same at every start. */
    protected abstract Config pluginConfig();

    @AfterEach
    void stopSystem() {
        system.close();
    }

    @Test
    void persistedEventsSurviveARestart() {
        LedgerProbe ledger = system.ledger(persistenceId, Ledger.Options.PLAIN);
        assertEquals(new Ledger.Recovered(List.of(), 0, 0), ledger.awaitRecovered());
        assertEquals(List.of(1L, 2L, 3L), ledger.append(List.of("a", "b", "c")));
        LedgerProbe other = system.ledger(persistenceId + "-other", Ledger.Options.PLAIN);
        other.awaitRecovered();
        assertEquals(1L, other.append("x"));

        system.stop();
        LedgerProbe recovered = system.ledger(persistenceId, Ledger.Options.PLAIN);
        assertEquals(new Ledger.Recovered(List.of("a", "b", "c"), 3, 3), recovered.awaitRecovered());
        assertEquals(4L, recovered.append("d"));
        assertEquals(new Ledger.Recovered(List.of("x"), 1, 1),
                system.ledger(persistenceId + "-other", Ledger.Options.PLAIN).awaitRecovered());

        system.stop();
        assertEquals(new Ledger.Recovered(List.of("a", "b", "c", "d"), 4, 4),
                system.ledger(persistenceId, Ledger.Options.PLAIN).awaitRecovered());
    }

    @Test
    void aSnapshotBoundsTheReplay() {
        Ledger.Options options = new Ledger.Options(RetentionCriteria.snapshotEvery(5, 2), false);
        LedgerProbe ledger = system.ledger(persistenceId, options);
        ledger.awaitRecovered();
        ledger.append(values(1, 12));
        ledger.awaitReport(new Ledger.SnapshotSaved(10));

        system.stop();
        // The state of all 12 events, from the snapshot at 10 and only events 11 and 12.
        assertEquals(new Ledger.Recovered(values(1, 12), 2, 12), system.ledger(persistenceId, options).awaitRecovered());
    }

    @Test
    void deletedEventsStayDeletedAndSequenceNumbersGoOn() {
        Ledger.Options options = new Ledger.Options(RetentionCriteria.snapshotEvery(3, 1).withDeleteEventsOnSnapshot(), false);
        LedgerProbe ledger = system.ledger(persistenceId, options);
        ledger.awaitRecovered();
        ledger.append(values(1, 7));
        // The snapshot at 6 keeps one batch of 3 events before it: deleteMessagesTo(3).
        ledger.awaitReport(new Ledger.EventsDeleted(3));

        system.stop();
        LedgerProbe everyEvent = system.ledger(persistenceId, new Ledger.Options(RetentionCriteria.disabled(), true));
        assertEquals(new Ledger.Recovered(values(4, 7), 4, 7), everyEvent.awaitRecovered());
        assertEquals(8L, everyEvent.append("e8"));

        system.stop();
        assertEquals(new Ledger.Recovered(values(1, 8), 2, 8), system.ledger(persistenceId, options).awaitRecovered());
    }
}
