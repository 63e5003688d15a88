package dev.walkeeper.actors.recovery;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class TransferProgressTest {
    private static final long MB = 1024 * 1024;
    private static final long SECOND = 1_000_000_000L;

    @Test
    void aLineAtMostEveryFiveSecondsWithBytesShareAndRate() {
        TransferProgress progress = new TransferProgress(new Lsn(0x1000000), new Lsn(0x1000000 + 100 * MB), 0);

        assertEquals(Optional.empty(), progress.due(new Lsn(0x1000000 + 10 * MB), 4 * SECOND));
        assertEquals(Optional.of("at 0/3800000, 40.0 of 100.0 MB (40%), 8.0 MB/s"),
                progress.due(new Lsn(0x1000000 + 40 * MB), 5 * SECOND));
        assertEquals(Optional.empty(), progress.due(new Lsn(0x1000000 + 60 * MB), 9 * SECOND));
        assertTrue(progress.due(new Lsn(0x1000000 + 60 * MB), 10 * SECOND).isPresent());
    }

    @Test
    void summaryCountsUpToTheLastRecordedLsn() {
        TransferProgress progress = new TransferProgress(new Lsn(0), new Lsn(64 * MB), 0);
        progress.due(new Lsn(32 * MB), SECOND);

        assertEquals("32.0 MB in 2.0 s, 16.0 MB/s", progress.summary(2 * SECOND));
    }
}
