package dev.walkeeper.persistence.journal;

import com.typesafe.config.Config;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;
import org.apache.pekko.persistence.AtomicWrite;
import org.apache.pekko.persistence.PersistentRepr;
import org.apache.pekko.persistence.journal.japi.AsyncWriteJournal;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.concurrent.Future;
import scala.jdk.javaapi.CollectionConverters;
import scala.util.Try;

/**
 * Walkeeper's default Pekko Persistence journal: one append-only file per node
 * ({@link JournalFile}) where every write completes only after {@code fsync}. An acceptor must
 * not answer a vote or acknowledge a flush before the state behind the answer is on disk, and the
 * embedded databases we measured do not fsync each commit.
 *
 * <p>All file work runs on a thread of its own, one task after another: the actor's dispatcher
 * never waits for an fsync, writes reach the file in the order the journal actor issued them, and
 * the in-memory {@link JournalIndex} needs no locks. Each {@code doAsyncWriteMessages} call is one
 * write and one fsync for all its {@link AtomicWrite}s. Events go through Pekko's serializer for
 * {@link PersistentRepr}, which hands payloads to whatever serializer is bound to them.
 *
 * <p>When the file has grown past {@code compaction-threshold} (and at least twice its size after
 * the previous compaction, so live data alone never triggers a rewrite loop) it is rewritten with
 * the live records only. Settings: {@code walkeeper.persistence.file-journal} in
 * {@code reference.conf}.
 */
public final class FileJournal extends AsyncWriteJournal {

    /** Name of the journal file inside the configured {@code dir}. */
    public static final String FILE_NAME = "journal.wkj";
    private static final Duration SHUTDOWN_WAIT = Duration.ofSeconds(10);

    private static final Logger log = LoggerFactory.getLogger(FileJournal.class);

    private final Path path;
    private final long compactionThreshold;
    private final Serialization serialization;
    private final IoThread io;
    // Owned by the I/O thread.
    private final JournalIndex index = new JournalIndex();
    private JournalFile file;
    private Exception openFailure;
    private long compactAt;

    public FileJournal(Config config) {
        path = Path.of(config.getString("dir")).toAbsolutePath().resolve(FILE_NAME);
        compactionThreshold = config.getBytes("compaction-threshold");
        serialization = SerializationExtension.get(context().system());
        io = new IoThread("walkeeper-journal " + path);
        io.execute(this::open);
    }

    @Override
    public Future<Iterable<Optional<Exception>>> doAsyncWriteMessages(Iterable<AtomicWrite> messages) {
        return onIoThread(() -> write(messages));
    }

    @Override
    public Future<Void> doAsyncDeleteMessagesTo(String persistenceId, long toSequenceNr) {
        return onIoThread(() -> {
            requireOpen();
            JournalRecord.Deletion deletion = index.deletion(persistenceId, toSequenceNr);
            if (deletion != null) {
                file.append(List.of(deletion.encode()));
                index.apply(deletion);
            }
            return null;
        });
    }

    @Override
    public Future<Void> doAsyncReplayMessages(String persistenceId, long fromSequenceNr, long toSequenceNr,
                                              long max, Consumer<PersistentRepr> replayCallback) {
        return onIoThread(() -> {
            requireOpen();
            for (byte[] event : index.replay(persistenceId, fromSequenceNr, toSequenceNr, max)) {
                replayCallback.accept(deserialize(event));
            }
            return null;
        });
    }

    @Override
    public Future<Long> doAsyncReadHighestSequenceNr(String persistenceId, long fromSequenceNr) {
        return onIoThread(() -> {
            requireOpen();
            return index.highestSequenceNr(persistenceId);
        });
    }

    /** Lets queued writes finish and closes the file, so the next journal on it starts clean. */
    @Override
    public void postStop() throws Exception {
        io.execute(this::closeFile);
        io.stop(SHUTDOWN_WAIT);
        super.postStop();
    }

    private void open() {
        try {
            file = JournalFile.open(path, index::apply);
            compactAt = nextCompactionSize();
            log.debug("Journal {} opened, {} bytes", path, file.size());
        } catch (IOException | RuntimeException e) {
            openFailure = e;
            log.error("Journal {} cannot be opened; persistent actors using it will fail to recover", path, e);
        }
    }

    /**
     * Serializes every {@link AtomicWrite} into one record; one that cannot be serialized is
     * rejected (not stored) while the others are written together with a single fsync.
     */
    private Iterable<Optional<Exception>> write(Iterable<AtomicWrite> messages) throws IOException {
        requireOpen();
        List<Optional<Exception>> results = new ArrayList<>();
        List<JournalRecord> records = new ArrayList<>();
        List<byte[]> bodies = new ArrayList<>();
        for (AtomicWrite write : messages) {
            try {
                JournalRecord record = toRecord(write);
                byte[] body = record.encode();
                if (body.length > JournalFile.MAX_RECORD_SIZE) {
                    throw new IllegalArgumentException("events " + write.lowestSequenceNr() + ".."
                            + write.highestSequenceNr() + " of " + write.persistenceId() + " take "
                            + body.length + " bytes, more than the journal's limit of "
                            + JournalFile.MAX_RECORD_SIZE);
                }
                records.add(record);
                bodies.add(body);
                results.add(Optional.empty());
            } catch (RuntimeException e) {
                results.add(Optional.of(e));
            }
        }
        if (!bodies.isEmpty()) {
            file.append(bodies);
            records.forEach(index::apply);
        }
        return results;
    }

    private JournalRecord toRecord(AtomicWrite write) {
        List<JournalRecord.Event> events = new ArrayList<>();
        for (PersistentRepr repr : CollectionConverters.asJava(write.payload())) {
            events.add(new JournalRecord.Event(repr.sequenceNr(), serialize(repr)));
        }
        return new JournalRecord.Events(write.persistenceId(), events);
    }

    private byte[] serialize(PersistentRepr repr) {
        Try<byte[]> bytes = serialization.serialize(repr);
        if (bytes.isFailure()) {
            Throwable cause = bytes.failed().get();
            throw new IllegalArgumentException("Cannot serialize event " + repr.sequenceNr() + " of "
                    + repr.persistenceId() + ": " + cause, cause);
        }
        return bytes.get();
    }

    private PersistentRepr deserialize(byte[] bytes) throws IOException {
        Try<PersistentRepr> repr = serialization.deserialize(bytes, PersistentRepr.class);
        if (repr.isFailure()) {
            throw new IOException("Journal " + path + ": cannot deserialize an event", repr.failed().get());
        }
        return repr.get();
    }

    private void requireOpen() throws IOException {
        if (openFailure != null) {
            throw new IOException("Journal " + path + " is unusable: " + openFailure.getMessage(), openFailure);
        }
    }

    /** Runs {@code task} on the I/O thread; after answering, compacts the file if it is due. */
    private <T> Future<T> onIoThread(IoThread.Task<T> task) {
        Future<T> result = io.call(task);
        io.execute(this::compactIfDue);
        return result;
    }

    private void compactIfDue() {
        if (file == null || file.size() <= compactAt) {
            return;
        }
        long before = file.size();
        try {
            file.rewrite(index.liveRecords());
            log.info("Journal {} compacted from {} to {} bytes", path, before, file.size());
        } catch (IOException | RuntimeException e) {
            log.error("Journal {}: compaction failed", path, e);
        }
        compactAt = nextCompactionSize();
    }

    private long nextCompactionSize() {
        return Math.max(compactionThreshold, 2 * file.size());
    }

    private void closeFile() {
        if (file == null) {
            return;
        }
        try {
            file.close();
        } catch (IOException e) {
            log.warn("Journal {}: close failed", path, e);
        }
    }
}
