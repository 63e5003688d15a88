package dev.walkeeper.persistence.journal;

import com.typesafe.config.Config;
import java.io.IOException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;
import org.apache.pekko.persistence.SelectedSnapshot;
import org.apache.pekko.persistence.SnapshotMetadata;
import org.apache.pekko.persistence.SnapshotSelectionCriteria;
import org.apache.pekko.persistence.serialization.Snapshot;
import org.apache.pekko.persistence.snapshot.japi.SnapshotStore;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.concurrent.Future;
import scala.util.Try;

/**
 * Pekko Persistence snapshot store with one file per snapshot, the companion of
 * {@link FileJournal}: a snapshot may be followed by the deletion of the events it replaces, so
 * it has to be on disk before it is acknowledged.
 *
 * <p>A file is named {@code snapshot-<URL-encoded persistence id>-<sequence nr>-<timestamp>.snap}
 * and holds the magic {@code WKS1}, then {@code [int length][int CRC-32C][body]} with the body
 * being the serialized {@link Snapshot}. It is written to a temporary file, fsynced, renamed into
 * place and the directory fsynced, so it is either complete or absent. A snapshot that fails its
 * checks on load is logged and skipped for the next older one; that is safe as long as events
 * are only deleted up to the oldest snapshot kept (Pekko's snapshot retention does so). If every
 * candidate fails, the load fails rather than recover without the snapshot.
 *
 * <p>File work runs on a thread of its own, so saves, loads and deletes happen in request order
 * and never block the actor's dispatcher. Settings: {@code walkeeper.persistence.file-snapshot-store}.
 */
public final class FileSnapshotStore extends SnapshotStore {

    private static final byte[] MAGIC = "WKS1".getBytes(StandardCharsets.US_ASCII);
    private static final int HEADER_SIZE = MAGIC.length + 8;
    private static final String PREFIX = "snapshot-";
    private static final String SUFFIX = ".snap";
    private static final Duration SHUTDOWN_WAIT = Duration.ofSeconds(10);

    private static final Logger log = LoggerFactory.getLogger(FileSnapshotStore.class);

    private final Path dir;
    private final Serialization serialization;
    private final IoThread io;

    public FileSnapshotStore(Config config) {
        dir = Path.of(config.getString("dir")).toAbsolutePath();
        serialization = SerializationExtension.get(context().system());
        io = new IoThread("walkeeper-snapshots " + dir);
        io.execute(this::removeInterruptedSaves);
    }

    @Override
    public Future<Optional<SelectedSnapshot>> doLoadAsync(String persistenceId, SnapshotSelectionCriteria criteria) {
        return io.call(() -> load(persistenceId, criteria));
    }

    @Override
    public Future<Void> doSaveAsync(SnapshotMetadata metadata, Object snapshot) {
        return io.call(() -> {
            byte[] body = serialize(metadata, snapshot);
            ByteBuffer content = ByteBuffer.allocate(HEADER_SIZE + body.length)
                    .put(MAGIC).putInt(body.length).putInt(DurableFiles.crc32c(body)).put(body).flip();
            DurableFiles.createDirectories(dir);
            DurableFiles.writeAtomically(dir.resolve(fileName(metadata)), content);
            return null;
        });
    }

    /** Deletes the snapshot at {@code metadata}'s sequence number; timestamp 0 means any timestamp. */
    @Override
    public Future<Void> doDeleteAsync(SnapshotMetadata metadata) {
        return io.call(() -> delete(metadata.persistenceId(), candidate ->
                candidate.sequenceNr() == metadata.sequenceNr()
                        && (metadata.timestamp() == 0 || candidate.timestamp() == metadata.timestamp())));
    }

    @Override
    public Future<Void> doDeleteAsync(String persistenceId, SnapshotSelectionCriteria criteria) {
        return io.call(() -> delete(persistenceId, candidate -> matches(criteria, candidate)));
    }

    @Override
    public void postStop() throws Exception {
        io.stop(SHUTDOWN_WAIT);
        super.postStop();
    }

    /** Temporary files of saves a crash interrupted: never renamed into place, never acknowledged. */
    private void removeInterruptedSaves() {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*" + SUFFIX + DurableFiles.TEMP_SUFFIX)) {
            for (Path file : files) {
                Files.deleteIfExists(file);
            }
        } catch (IOException e) {
            log.warn("Snapshot store {}: cannot remove temporary files", dir, e);
        }
    }

    private Optional<SelectedSnapshot> load(String persistenceId, SnapshotSelectionCriteria criteria)
            throws IOException {
        List<SnapshotMetadata> candidates = list(persistenceId, candidate -> matches(criteria, candidate));
        candidates.sort(Comparator.comparingLong(SnapshotMetadata::sequenceNr)
                .thenComparingLong(SnapshotMetadata::timestamp).reversed());
        IOException failure = null;
        for (SnapshotMetadata candidate : candidates) {
            Path file = dir.resolve(fileName(candidate));
            try {
                return Optional.of(SelectedSnapshot.create(candidate, read(file)));
            } catch (IOException e) {
                log.warn("Snapshot {} is unusable, trying an older one: {}", file, e.getMessage());
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
        return Optional.empty();
    }

    private Object read(Path file) throws IOException {
        byte[] content;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size < HEADER_SIZE || size > Integer.MAX_VALUE) {
                throw new CorruptFileException(file, 0, "snapshot file of " + size + " bytes");
            }
            content = DurableFiles.read(channel, 0, (int) size).array();
        }
        ByteBuffer buffer = ByteBuffer.wrap(content);
        byte[] magic = new byte[MAGIC.length];
        buffer.get(magic);
        if (!Arrays.equals(magic, MAGIC)) {
            throw new CorruptFileException(file, 0, "not a walkeeper snapshot (no WKS1 header)");
        }
        int length = buffer.getInt();
        int crc = buffer.getInt();
        if (length != buffer.remaining()) {
            throw new CorruptFileException(file, MAGIC.length, "length " + length + " but "
                    + buffer.remaining() + " bytes follow");
        }
        byte[] body = Arrays.copyOfRange(content, HEADER_SIZE, content.length);
        if (DurableFiles.crc32c(body) != crc) {
            throw new CorruptFileException(file, HEADER_SIZE, "CRC-32C mismatch");
        }
        Try<Snapshot> snapshot = serialization.deserialize(body, Snapshot.class);
        if (snapshot.isFailure()) {
            throw new IOException("Snapshot " + file + " cannot be deserialized", snapshot.failed().get());
        }
        return snapshot.get().data();
    }

    private byte[] serialize(SnapshotMetadata metadata, Object snapshot) {
        Try<byte[]> bytes = serialization.serialize(new Snapshot(snapshot));
        if (bytes.isFailure()) {
            Throwable cause = bytes.failed().get();
            throw new IllegalArgumentException("Cannot serialize snapshot " + metadata + ": " + cause, cause);
        }
        return bytes.get();
    }

    private Void delete(String persistenceId, Predicate<SnapshotMetadata> selected) throws IOException {
        List<SnapshotMetadata> doomed = list(persistenceId, selected);
        for (SnapshotMetadata metadata : doomed) {
            Files.deleteIfExists(dir.resolve(fileName(metadata)));
        }
        if (!doomed.isEmpty()) {
            DurableFiles.syncDirectory(dir);
        }
        return null;
    }

    /** The snapshots of {@code persistenceId} that {@code selected} accepts, as named on disk. */
    private List<SnapshotMetadata> list(String persistenceId, Predicate<SnapshotMetadata> selected)
            throws IOException {
        List<SnapshotMetadata> found = new ArrayList<>();
        if (!Files.isDirectory(dir)) {
            return found;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                parse(file.getFileName().toString())
                        .filter(metadata -> metadata.persistenceId().equals(persistenceId))
                        .filter(selected)
                        .ifPresent(found::add);
            }
        }
        return found;
    }

    static String fileName(SnapshotMetadata metadata) {
        return PREFIX + URLEncoder.encode(metadata.persistenceId(), StandardCharsets.UTF_8) + "-"
                + metadata.sequenceNr() + "-" + metadata.timestamp() + SUFFIX;
    }

    /** Reads the metadata back from a file name; empty for names this store did not write. */
    static Optional<SnapshotMetadata> parse(String name) {
        if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) {
            return Optional.empty();
        }
        String core = name.substring(PREFIX.length(), name.length() - SUFFIX.length());
        int timestampStart = core.lastIndexOf('-');
        int sequenceNrStart = timestampStart <= 0 ? -1 : core.lastIndexOf('-', timestampStart - 1);
        if (sequenceNrStart <= 0) {
            return Optional.empty();
        }
        try {
            return Optional.of(new SnapshotMetadata(
                    URLDecoder.decode(core.substring(0, sequenceNrStart), StandardCharsets.UTF_8),
                    Long.parseLong(core.substring(sequenceNrStart + 1, timestampStart)),
                    Long.parseLong(core.substring(timestampStart + 1))));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    private static boolean matches(SnapshotSelectionCriteria criteria, SnapshotMetadata metadata) {
        return metadata.sequenceNr() >= criteria.minSequenceNr() && metadata.sequenceNr() <= criteria.maxSequenceNr()
                && metadata.timestamp() >= criteria.minTimestamp() && metadata.timestamp() <= criteria.maxTimestamp();
    }

}
