package dev.walkeeper.actors;

import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** WAL segment files for tests that send WAL from disk. Shared by the actors' test packages. */
public final class TestSegments {
    private TestSegments() {}

    /**
     * Writes the first segment of timeline 1 into {@code dir} and returns its bytes: a pattern
     * rather than zeros, so that WAL sent from a wrong offset shows.
     */
    public static byte[] writeFirst(Path dir, int segmentSize) throws IOException {
        byte[] segment = new byte[segmentSize];
        for (int i = 0; i < segmentSize; i++) {
            segment[i] = (byte) (i * 31 + 7);
        }
        Files.write(dir.resolve(XLogFileName.of(1, 1, segmentSize)), segment);
        return segment;
    }
}
