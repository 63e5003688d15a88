package dev.walkeeper.persistence.journal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** Small state files outside the journal, replaced whole and durably (see {@link DurableFiles}). */
public final class AtomicFile {
    private AtomicFile() {}

    /**
     * Replaces {@code target} (creating its directory if needed) by {@code content}; durable on
     * return, and after a crash either the old or the new content is there.
     */
    public static void write(Path target, byte[] content) throws IOException {
        DurableFiles.createDirectories(target.toAbsolutePath().getParent());
        DurableFiles.writeAtomically(target, ByteBuffer.wrap(content));
    }
}
