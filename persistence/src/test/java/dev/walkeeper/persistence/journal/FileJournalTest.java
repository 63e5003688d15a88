package dev.walkeeper.persistence.journal;

import static dev.walkeeper.persistence.journal.LedgerProbe.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The behaviour suite on the file journal (the default plugins), and the failures only a file has. */
class FileJournalTest extends JournalBehaviourSuite {

    private static final long COMPACTION_THRESHOLD = 8 * 1024;
    private static final int KILL_ROUNDS = 4;

    @TempDir
    Path dataDir;
    private Config extraConfig = ConfigFactory.empty();

    /** Only the data directory: the reference configuration must select the file plugins. */
    static Config pluginConfig(Path dataDir) {
        return ConfigFactory.parseMap(Map.of("walkeeper.data-dir", dataDir.toString()));
    }

    @Override
    protected Config pluginConfig() {
        return extraConfig.withFallback(pluginConfig(dataDir));
    }

    private Path journal() {
        return dataDir.resolve("journal").resolve(FileJournal.FILE_NAME);
    }

    @Test
    void aTornLastRecordIsCutOff() throws IOException {
        LedgerProbe ledger = system.ledger(persistenceId, Ledger.Options.PLAIN);
        ledger.awaitRecovered();
        ledger.append(List.of("a", "b", "c"));
        system.stop();
        long intact = Files.size(journal());
        List<Long> records = JournalBytes.recordOffsets(journal());
        byte[] last = JournalBytes.read(journal(), records.get(records.size() - 1), intact);
        JournalBytes.append(journal(), Arrays.copyOf(last, last.length / 2));

        LedgerProbe recovered = system.ledger(persistenceId, Ledger.Options.PLAIN);
        assertEquals(new Ledger.Recovered(List.of("a", "b", "c"), 3, 3), recovered.awaitRecovered());
        assertEquals(intact, Files.size(journal()), "the torn tail is truncated");
        assertEquals(4L, recovered.append("d"));

        system.stop();
        assertEquals(List.of("a", "b", "c", "d"),
                system.ledger(persistenceId, Ledger.Options.PLAIN).awaitRecovered().entries());
    }

    @Test
    void aCorruptRecordBeforeTheTailFailsRecoveryNamingFileAndOffset() throws IOException {
        LedgerProbe ledger = system.ledger(persistenceId, Ledger.Options.PLAIN);
        ledger.awaitRecovered();
        ledger.append(List.of("a", "b", "c"));
        system.stop();
        long size = Files.size(journal());
        long first = JournalBytes.recordOffsets(journal()).get(0);
        JournalBytes.flip(journal(), first + JournalFile.FRAME_HEADER_SIZE + 3);

        Ledger.RecoveryFailure failure = system.ledger(persistenceId, Ledger.Options.PLAIN).awaitRecoveryFailure();
        String messages = failure.causes();
        assertTrue(messages.contains("CRC-32C mismatch in a record followed by"), messages);
        assertTrue(messages.contains(journal() + " at offset " + first), messages);
        assertEquals(size, Files.size(journal()), "acknowledged data is never cut off");
    }

    @Test
    void compactionKeepsExactlyTheLiveEventsAcrossARestart() throws IOException {
        extraConfig = ConfigFactory.parseMap(Map.of(
                "walkeeper.persistence.file-journal.compaction-threshold", COMPACTION_THRESHOLD));
        LedgerProbe keeper = system.ledger(persistenceId + "-keeper", Ledger.Options.PLAIN);
        keeper.awaitRecovered();
        keeper.append(List.of("k1", "k2", "k3"));
        Ledger.Options options = new Ledger.Options(RetentionCriteria.snapshotEvery(10, 1).withDeleteEventsOnSnapshot(), false);
        LedgerProbe ledger = system.ledger(persistenceId, options);
        ledger.awaitRecovered();
        ledger.append(values(1, 400));
        ledger.awaitReport(new Ledger.EventsDeleted(390));
        system.stop();
        // 400 event records take over 40 KiB; compaction keeps the file near its threshold.
        long eventRecordSize = Collections.max(recordSizes());
        assertTrue(400 * eventRecordSize > 5 * COMPACTION_THRESHOLD, "records of " + eventRecordSize + " bytes");
        assertTrue(Files.size(journal()) < 3 * COMPACTION_THRESHOLD, "journal of " + Files.size(journal()) + " bytes");

        LedgerProbe everyEvent = system.ledger(persistenceId, new Ledger.Options(RetentionCriteria.disabled(), true));
        assertEquals(new Ledger.Recovered(values(391, 400), 10, 400), everyEvent.awaitRecovered());
        assertEquals(401L, everyEvent.append("e401"));
        assertEquals(new Ledger.Recovered(List.of("k1", "k2", "k3"), 3, 3),
                system.ledger(persistenceId + "-keeper", Ledger.Options.PLAIN).awaitRecovered());
    }

    /**
     * Crashes a writer JVM with SIGKILL at random moments, several times over the same journal:
     * every sequence number it printed as acknowledged must be recovered, in order, without gaps.
     */
    @Test
    void killMinusNineKeepsEveryAcknowledgedEvent() throws IOException {
        Random random = new Random();
        SortedSet<Long> acknowledged = new TreeSet<>();
        for (int round = 0; round < KILL_ROUNDS; round++) {
            Command writer = Command.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m", "-cp", System.getProperty("java.class.path"), JournalWriterMain.class.getName(),
                    dataDir.toString(), persistenceId);
            try (RunningProcess process = Processes.start(writer, dataDir.resolve("writer-" + round + ".log"))) {
                process.awaitLog(JournalWriterMain.RECOVERED, LedgerProbe.TIMEOUT);
                long recovered = lastNumber(process.output(), JournalWriterMain.RECOVERED);
                assertTrue(acknowledged.isEmpty() || recovered >= acknowledged.last(),
                        () -> "recovered " + recovered + " after acknowledging " + acknowledged.last());
                long killAt = recovered + 20 + random.nextInt(200);
                process.awaitLog("\n" + JournalWriterMain.ACK + killAt + "\n", LedgerProbe.TIMEOUT);
                process.kill();
                acknowledged.addAll(numbers(process.output(), JournalWriterMain.ACK));
            }
        }

        Ledger.Recovered recovered = system.ledger(persistenceId, Ledger.Options.PLAIN).awaitRecovered();
        List<String> entries = recovered.entries();
        for (int i = 0; i < entries.size(); i++) {
            assertEquals("entry-" + (i + 1), entries.get(i), "entry " + (i + 1));
        }
        assertTrue(entries.size() >= acknowledged.last(),
                "recovered " + entries.size() + " events, but " + acknowledged.last() + " were acknowledged");
    }

    private List<Long> recordSizes() throws IOException {
        List<Long> offsets = JournalBytes.recordOffsets(journal());
        List<Long> sizes = new ArrayList<>();
        for (int i = 0; i < offsets.size(); i++) {
            long end = i + 1 < offsets.size() ? offsets.get(i + 1) : Files.size(journal());
            sizes.add(end - offsets.get(i));
        }
        return sizes;
    }

    private static SortedSet<Long> numbers(String output, String prefix) {
        SortedSet<Long> numbers = new TreeSet<>();
        Matcher line = Pattern.compile("(?m)^" + Pattern.quote(prefix) + "(\\d+)\n").matcher(output);
        while (line.find()) {
            numbers.add(Long.parseLong(line.group(1)));
        }
        return numbers;
    }

    private static long lastNumber(String output, String prefix) {
        return numbers(output, prefix).last();
    }
}
