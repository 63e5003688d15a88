package dev.walkeeper.persistence.journal;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;

/** A running {@link Ledger} with probes for its reports and replies. */
final class LedgerProbe {

    /** Generous: fsyncs on a loaded CI machine can be slow. */
    static final Duration TIMEOUT = Duration.ofSeconds(20);

    private final ActorRef<Ledger.Command> ledger;
    private final TestProbe<Ledger.Report> reports;
    private final TestProbe<Long> acks;

    private LedgerProbe(ActorRef<Ledger.Command> ledger, TestProbe<Ledger.Report> reports, TestProbe<Long> acks) {
        this.ledger = ledger;
        this.reports = reports;
        this.acks = acks;
    }

    static LedgerProbe spawn(ActorTestKit kit, String persistenceId, Ledger.Options options) {
        TestProbe<Ledger.Report> reports = kit.createTestProbe(Ledger.Report.class);
        ActorRef<Ledger.Command> ledger = kit.spawn(Ledger.create(persistenceId, reports.getRef(), options),
                "ledger-" + UUID.randomUUID());
        return new LedgerProbe(ledger, reports, kit.createTestProbe(Long.class));
    }

    /** "e{from}" .. "e{to}": values whose number is the sequence number they get in a fresh ledger. */
    static List<String> values(long from, long to) {
        return LongStream.rangeClosed(from, to).mapToObj(n -> "e" + n).collect(Collectors.toList());
    }

    Ledger.Recovered awaitRecovered() {
        return reports.expectMessageClass(Ledger.Recovered.class, TIMEOUT);
    }

    Ledger.RecoveryFailure awaitRecoveryFailure() {
        return reports.expectMessageClass(Ledger.RecoveryFailure.class, TIMEOUT);
    }

    /** Waits for {@code expected}, skipping other reports. */
    void awaitReport(Ledger.Report expected) {
        reports.fishForMessage(TIMEOUT, "waiting for " + expected,
                report -> report.equals(expected) ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    }

    long append(String value) {
        return append(List.of(value)).get(0);
    }

    /** Sends all appends at once and returns the acknowledged sequence numbers, in order. */
    List<Long> append(List<String> values) {
        values.forEach(value -> ledger.tell(new Ledger.Append(value, acks.getRef())));
        List<Long> sequenceNrs = new ArrayList<>();
        for (int i = 0; i < values.size(); i++) {
            sequenceNrs.add(acks.receiveMessage(TIMEOUT));
        }
        return sequenceNrs;
    }
}
