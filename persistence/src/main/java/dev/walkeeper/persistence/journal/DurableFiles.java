package dev.walkeeper.persistence.journal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.zip.CRC32C;

/**
 * File operations that are durable when they return. A rename or a new directory entry is only
 * on disk once its directory is fsynced, so every helper here fsyncs the directories it changed.
 */
final class DurableFiles {

    /** Suffix of files being written before their atomic rename; leftovers are crash debris. */
    static final String TEMP_SUFFIX = ".tmp";

    private DurableFiles() {
    }

    /** Creates {@code dir} and any missing parents, fsyncing each parent that gained an entry. */
    static void createDirectories(Path dir) throws IOException {
        Deque<Path> missing = new ArrayDeque<>();
        for (Path p = dir.toAbsolutePath().normalize(); p != null && !Files.isDirectory(p); p = p.getParent()) {
            missing.push(p);
        }
        while (!missing.isEmpty()) {
            Path created = missing.pop();
            Files.createDirectories(created);
            syncDirectory(created.getParent());
        }
    }

    /**
     * Replaces {@code target} by a file holding {@code content}: written to a temporary file,
     * fsynced, renamed over the target and the directory fsynced. Readers see the old file or the
     * new one, never a partial one, even across a crash.
     */
    static void writeAtomically(Path target, ByteBuffer content) throws IOException {
        Path temp = writeTemp(target, content);
        moveIntoPlace(temp, target);
        syncDirectory(target.getParent());
    }

    /** Writes and fsyncs the temporary file that is to replace {@code target}; removed on failure. */
    static Path writeTemp(Path target, ByteBuffer content) throws IOException {
        Path temp = target.resolveSibling(target.getFileName() + TEMP_SUFFIX);
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE,
                StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            writeFully(channel, content, 0);
            channel.force(true);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
        return temp;
    }

    /**
     * Renames {@code temp} over {@code target} in one step; the caller fsyncs the directory. On
     * failure the target is untouched (the rename is atomic) and the temporary file removed.
     */
    static void moveIntoPlace(Path temp, Path target) throws IOException {
        try {
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
    }

    /** Deletes {@code file} if present and makes the deletion durable. */
    static void deleteDurably(Path file) throws IOException {
        if (Files.deleteIfExists(file)) {
            syncDirectory(file.getParent());
        }
    }

    /** Fsyncs a directory, making renames, creations and deletions in it durable. */
    static void syncDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    static void writeFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            at += channel.write(buffer, at);
        }
    }

    /**
     * Reads exactly {@code length} bytes at {@code position}, or fewer only when the file ends
     * first (the returned buffer is flipped; its limit tells how many were read).
     */
    static ByteBuffer read(FileChannel channel, long position, int length) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(length);
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) {
                break;
            }
            at += n;
        }
        return buffer.flip();
    }

    static int crc32c(byte[] bytes) {
        CRC32C crc = new CRC32C();
        crc.update(bytes);
        return (int) crc.getValue();
    }
}
