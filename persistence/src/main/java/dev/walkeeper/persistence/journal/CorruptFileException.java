package dev.walkeeper.persistence.journal;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Stored data that fails its checks where no crash can explain it. Refusing to go on is the only
 * safe answer: silently skipping the bad bytes could drop data that was already acknowledged.
 */
public final class CorruptFileException extends IOException {

    private final Path file;
    private final long offset;

    public CorruptFileException(Path file, long offset, String problem) {
        super(problem + " in " + file + " at offset " + offset);
        this.file = file;
        this.offset = offset;
    }

    public Path file() {
        return file;
    }

    public long offset() {
        return offset;
    }
}
