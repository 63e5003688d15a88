package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.function.BooleanSupplier;

/**
 * The file steps both WAL writers share — the node's own store and a downstream's received
 * WAL — so that a segment is created, completed and found again the same way in both.
 */
final class SegmentFiles {
    private static final String TEMP_SUFFIX = ".tmp";

    private SegmentFiles() {}

    /**
     * Creates {@code name.partial} full size and zero-filled (sparse): built under a temporary
     * name, fsynced, renamed, and the directory fsynced, so it exists whole or not at all — and
     * fdatasync never has to change its length later.
     */
    static Path createPreallocated(Path dir, String name, int size) throws IOException {
        Path temp = dir.resolve(name + TEMP_SUFFIX);
        Files.deleteIfExists(temp);
        try (RandomAccessFile file = new RandomAccessFile(temp.toFile(), "rw")) {
            file.setLength(size);
            file.getChannel().force(true);
        }
        Path partial = dir.resolve(name + XLogFileName.PARTIAL_SUFFIX);
        Files.move(temp, partial, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fsyncDirectory(dir);
        return partial;
    }

    /** Zeros written by {@link #createZeroFilled}: read-only, shared, 1 MiB per write call. */
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 20).asReadOnlyBuffer();

    /**
     * As {@link #createPreallocated}, but with every byte written as a zero: the file's blocks are
     * allocated and initialised, so a later overwrite + fdatasync only writes data, with no block
     * allocation or extent conversion to journal (PostgreSQL's {@code wal_init_zero} and
     * pg_receivewal make their segments this way for the same reason).
     *
     * @param stop asked between writes: when true, the temporary file is deleted and null returned
     */
    static Path createZeroFilled(Path dir, String name, int size, BooleanSupplier stop) throws IOException {
        Path temp = dir.resolve(name + TEMP_SUFFIX);
        Files.deleteIfExists(temp);
        try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long position = 0; position < size; ) {
                if (stop.getAsBoolean()) {
                    channel.close();
                    Files.deleteIfExists(temp);
                    return null;
                }
                ByteBuffer zeros = ZEROS.duplicate();
                zeros.limit((int) Math.min(zeros.capacity(), size - position));
                writeFully(channel, zeros, position);
                position += zeros.limit();
            }
            channel.force(true);
        }
        Path partial = dir.resolve(name + XLogFileName.PARTIAL_SUFFIX);
        Files.move(temp, partial, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        fsyncDirectory(dir);
        return partial;
    }

    /**
     * Gives a filled, fsynced segment its final name durably: readers of completed segments
     * (pg_waldump, a restore_command) never see it go back to {@code .partial} after a crash.
     */
    static void complete(Path dir, Path partial, Path finalName) throws IOException {
        Files.move(partial, finalName, StandardCopyOption.ATOMIC_MOVE);
        fsyncDirectory(dir);
    }

    /** Removes segment files a crash left half-created. */
    static void deleteTempFiles(Path dir) throws IOException {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + TEMP_SUFFIX)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                if (XLogFileName.isWalFileName(name.substring(0, name.length() - TEMP_SUFFIX.length()))) {
                    Files.delete(file);
                }
            }
        }
    }

    /** Writes the buffer's remaining bytes at {@code position}, however many calls it takes. */
    static void writeFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long base = position - buffer.position();
        while (buffer.hasRemaining()) {
            channel.write(buffer, base + buffer.position());
        }
    }

    static void fsyncDirectory(Path directory) throws IOException {
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }
}
