package dev.walkeeper.persistence.journal;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The journal's append-only file: the magic {@code WKJ1}, then records, each framed as
 * {@code [int length][int CRC-32C of body][body]} (big-endian, length counts the body).
 * {@link #append} returns only after {@code fsync}, so a record that was acknowledged survives
 * any crash.
 *
 * <p>Opening scans every record. Since each append is fsynced before the next begins, only the
 * last append can be incomplete after a crash; that shows as an invalid record at the tail, which
 * is truncated away. An invalid record with intact data after it cannot come from a crash and
 * fails the open with a {@link CorruptFileException} instead, because skipping it would drop
 * acknowledged events.
 *
 * <p>Not thread-safe: owned by the journal's I/O thread.
 */
final class JournalFile implements AutoCloseable {

    static final byte[] MAGIC = "WKJ1".getBytes(StandardCharsets.US_ASCII);
    static final int FRAME_HEADER_SIZE = 8;
    /** Larger records are refused on write, so a larger length field on read is corruption. */
    static final int MAX_RECORD_SIZE = 16 * 1024 * 1024;

    private static final Logger log = LoggerFactory.getLogger(JournalFile.class);

    private final Path path;
    private FileChannel channel;
    private long size;
    /** Set when a write or fsync failed: the file's tail is then unknown, see {@link #append}. */
    private IOException failure;

    private JournalFile(Path path, FileChannel channel, long size) {
        this.path = path;
        this.channel = channel;
        this.size = size;
    }

    /**
     * Opens the journal at {@code path}, creating it if missing, and hands every record to
     * {@code sink} in file order. A torn tail is truncated (and logged).
     *
     * @throws CorruptFileException if the file is damaged anywhere but at its tail
     */
    static JournalFile open(Path path, Consumer<JournalRecord> sink) throws IOException {
        DurableFiles.createDirectories(path.getParent());
        // Debris of a compaction that crashed before its rename; the journal itself is intact.
        Files.deleteIfExists(path.resolveSibling(path.getFileName() + DurableFiles.TEMP_SUFFIX));
        if (!Files.exists(path)) {
            DurableFiles.writeAtomically(path, ByteBuffer.wrap(MAGIC));
        }
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            long end = scan(path, channel, sink);
            if (end < channel.size()) {
                log.warn("Journal {}: truncating {} bytes of an incomplete write at offset {} (a crash"
                        + " interrupted it before it was acknowledged)", path, channel.size() - end, end);
                channel.truncate(end);
                channel.force(true);
            }
            return new JournalFile(path, channel, end);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    Path path() {
        return path;
    }

    long size() {
        return size;
    }

    /**
     * Appends the record bodies in one write and fsyncs it: a group commit for everything the
     * journal was handed at once.
     *
     * <p>If the write or the fsync fails, the file's tail is unknown (partly written, or pages
     * the kernel already dropped), and appending after it could bury garbage in the middle of
     * the file. So the first failure is final: every later append fails too, and a restart
     * re-scans the file and cuts off whatever incomplete tail remains.
     */
    void append(List<byte[]> bodies) throws IOException {
        requireHealthy();
        ByteBuffer frames = frame(bodies);
        int length = frames.remaining();
        try {
            DurableFiles.writeFully(channel, frames, size);
            channel.force(true);
        } catch (IOException e) {
            failure = e;
            throw e;
        }
        size += length;
    }

    /**
     * Compaction: replaces the file by one holding only {@code records}, durably (temporary file,
     * fsync, rename, directory fsync). A failure before the rename leaves the old file in use.
     */
    void rewrite(List<JournalRecord> records) throws IOException {
        requireHealthy();
        List<byte[]> bodies = new ArrayList<>(records.size());
        for (JournalRecord record : records) {
            bodies.add(record.encode());
        }
        ByteBuffer frames = frame(bodies);
        ByteBuffer content = ByteBuffer.allocate(MAGIC.length + frames.remaining()).put(MAGIC).put(frames).flip();
        long newSize = content.remaining();
        Path temp = DurableFiles.writeTemp(path, content);
        DurableFiles.moveIntoPlace(temp, path);
        // From here the old file is unlinked: appending to it would lose data, so failing to
        // switch over (or to make the rename durable) is final, as for a failed append.
        try {
            FileChannel old = channel;
            channel = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
            size = newSize;
            old.close();
            DurableFiles.syncDirectory(path.getParent());
        } catch (IOException e) {
            failure = e;
            throw e;
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    private void requireHealthy() throws IOException {
        if (failure != null) {
            throw new IOException("Journal " + path + " failed earlier and accepts no writes until"
                    + " the node restarts: " + failure.getMessage(), failure);
        }
    }

    private static ByteBuffer frame(List<byte[]> bodies) {
        int total = 0;
        for (byte[] body : bodies) {
            if (body.length > MAX_RECORD_SIZE) {
                throw new IllegalArgumentException("record of " + body.length + " bytes exceeds "
                        + MAX_RECORD_SIZE);
            }
            total += FRAME_HEADER_SIZE + body.length;
        }
        ByteBuffer buffer = ByteBuffer.allocate(total);
        for (byte[] body : bodies) {
            buffer.putInt(body.length).putInt(DurableFiles.crc32c(body)).put(body);
        }
        return buffer.flip();
    }

    /** Reads the records, returning where the valid ones end. */
    private static long scan(Path path, FileChannel channel, Consumer<JournalRecord> sink) throws IOException {
        long fileSize = channel.size();
        ByteBuffer magic = DurableFiles.read(channel, 0, MAGIC.length);
        if (magic.remaining() < MAGIC.length || !Arrays.equals(magic.array(), MAGIC)) {
            throw new CorruptFileException(path, 0, "not a walkeeper journal (no WKJ1 header)");
        }
        long position = MAGIC.length;
        while (position < fileSize) {
            if (fileSize - position < FRAME_HEADER_SIZE) {
                return position;
            }
            ByteBuffer header = DurableFiles.read(channel, position, FRAME_HEADER_SIZE);
            int length = header.getInt();
            int crc = header.getInt();
            if (length <= 0 || length > MAX_RECORD_SIZE) {
                if (zeroFrom(channel, position, fileSize)) {
                    return position; // space the file system allocated for a write that never landed
                }
                throw new CorruptFileException(path, position, "invalid record length " + length);
            }
            long end = position + FRAME_HEADER_SIZE + length;
            if (end > fileSize) {
                return position;
            }
            byte[] body = DurableFiles.read(channel, position + FRAME_HEADER_SIZE, length).array();
            if (DurableFiles.crc32c(body) != crc) {
                if (end == fileSize) {
                    return position; // the last record, only partly written
                }
                throw new CorruptFileException(path, position, "CRC-32C mismatch in a record followed by "
                        + (fileSize - end) + " more bytes");
            }
            try {
                sink.accept(JournalRecord.decode(body));
            } catch (IOException e) {
                throw new CorruptFileException(path, position, "undecodable record (" + e.getMessage() + ")");
            }
            position = end;
        }
        return position;
    }

    private static boolean zeroFrom(FileChannel channel, long position, long fileSize) throws IOException {
        for (long at = position; at < fileSize; ) {
            int length = (int) Math.min(64 * 1024, fileSize - at);
            ByteBuffer chunk = DurableFiles.read(channel, at, length);
            while (chunk.hasRemaining()) {
                if (chunk.get() != 0) {
                    return false;
                }
            }
            at += length;
        }
        return true;
    }
}
