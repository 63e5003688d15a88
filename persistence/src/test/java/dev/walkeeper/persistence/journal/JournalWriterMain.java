package dev.walkeeper.persistence.journal;

import com.typesafe.config.ConfigFactory;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.slf4j.LoggerFactory;

/**
 * Run in a JVM of its own by the kill -9 test: recovers a {@link Ledger} from the file journal in
 * {@code args[0]} (a data directory), prints {@code RECOVERED <last sequence nr>}, then appends
 * {@code entry-<n>} forever and prints {@code ACK <n>} for each append once it is acknowledged,
 * i.e. once the journal has fsynced it. The test kills it at any moment.
 */
public final class JournalWriterMain {

    static final String RECOVERED = "RECOVERED ";
    static final String ACK = "ACK ";
    /** Appends queued ahead, so the ledger never waits for this writer. */
    private static final int IN_FLIGHT = 8;
    /** Unbuffered: a line is written with one write(2) before the next append is even sent. */
    private static final FileOutputStream STDOUT = new FileOutputStream(FileDescriptor.out);

    private JournalWriterMain() {
    }

    public static void main(String[] args) {
        Path dataDir = Path.of(args[0]);
        String persistenceId = args[1];
        LoggerFactory.getILoggerFactory();
        ActorSystem.create(recoverThenWrite(persistenceId), "writer",
                ConfigFactory.load(FileJournalTest.pluginConfig(dataDir)));
    }

    private static Behavior<Ledger.Report> recoverThenWrite(String persistenceId) {
        return Behaviors.setup(context -> {
            ActorRef<Ledger.Command> ledger = context.spawn(
                    Ledger.create(persistenceId, context.getSelf(), Ledger.Options.PLAIN), "ledger");
            return Behaviors.receive(Ledger.Report.class)
                    .onMessage(Ledger.Recovered.class, recovered -> {
                        print(RECOVERED + recovered.lastSequenceNr());
                        context.spawn(writer(ledger, recovered.lastSequenceNr()), "writer");
                        return Behaviors.same();
                    })
                    .onMessage(Ledger.RecoveryFailure.class, failure -> {
                        print("RECOVERY FAILED " + failure.failure());
                        return Behaviors.stopped();
                    })
                    .build();
        });
    }

    /** The value of each entry is the sequence number it must get, so the test can check order. */
    private static Behavior<Long> writer(ActorRef<Ledger.Command> ledger, long lastSequenceNr) {
        return Behaviors.setup(context -> {
            long[] next = {lastSequenceNr + 1};
            for (int i = 0; i < IN_FLIGHT; i++) {
                ledger.tell(new Ledger.Append("entry-" + next[0]++, context.getSelf()));
            }
            return Behaviors.receive(Long.class)
                    .onMessage(Long.class, acknowledged -> {
                        print(ACK + acknowledged);
                        ledger.tell(new Ledger.Append("entry-" + next[0]++, context.getSelf()));
                        return Behaviors.same();
                    })
                    .build();
        });
    }

    private static void print(String line) {
        try {
            STDOUT.write((line + "\n").getBytes(StandardCharsets.US_ASCII));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
