package dev.walkeeper.persistence;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A node's data directory, held with an exclusive lock for the node's lifetime: two nodes writing
 * the same WAL and acceptor state would break every durability promise, so the second one must
 * refuse to start.
 */
public final class DataDirectory implements AutoCloseable {
    private static final String LOCK_FILE = "walkeeper.lock";

    private final Path path;
    private final FileChannel lockChannel;
    private final FileLock lock;

    private DataDirectory(Path path, FileChannel lockChannel, FileLock lock) {
        this.path = path;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /** Creates the directory if needed and locks it; fails if another node (in any process) holds it. */
    public static DataDirectory open(Path path) throws IOException {
        Path dir = path.toAbsolutePath().normalize();
        Files.createDirectories(dir);
        FileChannel channel = FileChannel.open(dir.resolve(LOCK_FILE), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            // File locks are per process: a node in this JVM holding the directory shows up as
            // this exception, not as a null lock.
            lock = null;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            channel.close();
            throw new InUseException(dir);
        }
        return new DataDirectory(dir, channel, lock);
    }

    /** Another node (in this process or another) holds the directory's lock. */
    public static final class InUseException extends IOException {
        InUseException(Path dir) {
            super("data directory " + dir + " is in use by another walkeeper node (it holds " + LOCK_FILE + ")");
        }
    }

    public Path path() {
        return path;
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            lockChannel.close();
        }
    }
}
