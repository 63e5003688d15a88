package dev.walkeeper.persistence.journal;

import static dev.walkeeper.persistence.journal.LedgerProbe.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;
import org.apache.pekko.persistence.SnapshotMetadata;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Snapshot files: checked on load, an unusable latest one falls back to an older one, deletions. */
class FileSnapshotStoreTest {

    @TempDir
    Path dataDir;
    private final String persistenceId = "ledger-" + UUID.randomUUID();
    private final RestartableSystem system = new RestartableSystem(() -> FileJournalTest.pluginConfig(dataDir));

    @AfterEach
    void stopSystem() {
        system.close();
    }

    private List<Long> snapshotSequenceNrs() throws IOException {
        try (Stream<Path> files = Files.list(dataDir.resolve("snapshots"))) {
            return files.map(file -> FileSnapshotStore.parse(file.getFileName().toString()).orElseThrow())
                    .map(SnapshotMetadata::sequenceNr).sorted().toList();
        }
    }

    private Path snapshotFile(long sequenceNr) throws IOException {
        try (Stream<Path> files = Files.list(dataDir.resolve("snapshots"))) {
            return files.filter(file -> FileSnapshotStore.parse(file.getFileName().toString()).orElseThrow()
                    .sequenceNr() == sequenceNr).findFirst().orElseThrow();
        }
    }

    /** Appends {@code count} events with a snapshot every 3, keeping them all, then stops the system. */
    private void writeWithSnapshots(int count) {
        LedgerProbe ledger = system.ledger(persistenceId, keepAllSnapshots());
        ledger.awaitRecovered();
        ledger.append(values(1, count));
        ledger.awaitReport(new Ledger.SnapshotSaved(count));
        system.stop();
    }

    private static Ledger.Options keepAllSnapshots() {
        return new Ledger.Options(RetentionCriteria.snapshotEvery(3, 10), false);
    }

    @Test
    void aCorruptLatestSnapshotFallsBackToTheOlderOne() throws IOException {
        writeWithSnapshots(9);
        assertEquals(List.of(3L, 6L, 9L), snapshotSequenceNrs());
        Path latest = snapshotFile(9);
        JournalBytes.flip(latest, Files.size(latest) - 1);

        // From the snapshot at 6 plus events 7..9.
        assertEquals(new Ledger.Recovered(values(1, 9), 3, 9),
                system.ledger(persistenceId, keepAllSnapshots()).awaitRecovered());
    }

    @Test
    void recoveryFailsWhenEverySnapshotIsUnusable() throws IOException {
        writeWithSnapshots(6);
        JournalBytes.flip(snapshotFile(3), Files.size(snapshotFile(3)) - 1);
        Files.write(snapshotFile(6), new byte[] {1, 2, 3});

        Ledger.RecoveryFailure failure = system.ledger(persistenceId, keepAllSnapshots()).awaitRecoveryFailure();
        String messages = failure.causes();
        assertTrue(messages.contains(snapshotFile(6).toString()), messages);
    }

    @Test
    void retentionDeletesOlderSnapshots() throws IOException {
        LedgerProbe ledger = system.ledger(persistenceId, new Ledger.Options(RetentionCriteria.snapshotEvery(2, 1), false));
        ledger.awaitRecovered();
        ledger.append(values(1, 6));
        ledger.awaitReport(new Ledger.SnapshotSaved(6));
        system.kit().createTestProbe().awaitAssert(LedgerProbe.TIMEOUT, () -> {
            assertEquals(List.of(6L), snapshotSequenceNrs());
            return null;
        });
    }

    @Test
    void fileNamesCarryTheMetadata() {
        for (String id : List.of("plain", "with-dashes-1-2", "slash/space *%+é")) {
            SnapshotMetadata metadata = new SnapshotMetadata(id, 42, 1_700_000_000_123L);
            assertEquals(Optional.of(metadata), FileSnapshotStore.parse(FileSnapshotStore.fileName(metadata)), id);
        }
        assertEquals(Optional.empty(), FileSnapshotStore.parse("snapshot-x-1-2.snap.tmp"));
        assertEquals(Optional.empty(), FileSnapshotStore.parse("snapshot-x-one-2.snap"));
    }
}
