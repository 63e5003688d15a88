package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalFormatException;
import dev.walkeeper.protocol.wal.WalPageHeaders;
import dev.walkeeper.protocol.wal.WalRecordScanner;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A timeline's WAL in PostgreSQL segment files, as Neon's safekeeper keeps it.
 *
 * <h2>Files</h2>
 * One file per segment of {@link WalFormat#walSegSize()} bytes in the timeline directory, named as
 * PostgreSQL names it ({@link XLogFileName}, e.g. {@code 000000010000000000000001}); the segment
 * being written carries {@value XLogFileName#PARTIAL_SUFFIX}. Invariants, between calls:
 * <ul>
 *   <li>every segment file is full size; everything after {@link #writeLsn()} in its segment reads
 *       as zeros (except after a write that failed with an I/O error, until {@link #truncate});</li>
 *   <li>no segment after the one holding {@code writeLsn} exists (at a segment boundary: after
 *       the one ending there), except one never-written spare;</li>
 *   <li>a segment with its final name is complete and was fsynced before it got that name.</li>
 * </ul>
 *
 * <h2>Durability protocol</h2>
 * <ul>
 *   <li><b>New segment</b>: created as {@code <name>.tmp}, sized with {@code setLength} (a sparse,
 *       zero-filled file: preallocated, so that fdatasync never has to change the file's length),
 *       fsynced, renamed to {@code <name>.partial}, then the directory is fsynced. The next segment
 *       is made ahead, as a <em>spare</em> ({@link SpareSegment}), on the executor given to
 *       {@link #open}, once a flush is prepared past half of the current segment; the switch to it
 *       only opens it (waiting for it in the rare case that writing outran it). Where the current
 *       segment's flushes averaged at most {@value #ZERO_FILL_MAX_BYTES_PER_FLUSH} bytes (commits
 *       one at a time), the spare is written full of zeros instead of sparse, as PostgreSQL's
 *       {@code wal_init_zero}: an overwrite + fdatasync of allocated blocks has no block allocation
 *       to journal, which made a small commit's fdatasync faster on this project's disks; under a
 *       stream of large writes the extra 16 MiB of writes would cost more than it saves. Without a
 *       spare (a write crossing half a segment and its end at once, {@link #initialize}, the
 *       segment after a restart's) the segment is created sparse when its first byte is written.
 *       </li>
 *   <li><b>Write</b>: positional {@code FileChannel} writes, no fsync. A segment whose last byte is
 *       written (<em>filled</em>) stays open under its {@code .partial} name until the next
 *       flush job.</li>
 *   <li><b>Flush</b>, in two phases ({@link #prepareFlush()}, {@link FlushJob#run()} on any thread,
 *       {@link #completeFlush}): the job fdatasyncs the filled segments and the segment being
 *       written (what was written before it was prepared), then closes each filled segment and
 *       renames it from {@code .partial} to its final name, fsyncing the directory (so a final
 *       name always means synced and complete), then makes the spare if due; completing it sets
 *       {@code flushRecordLsn} to {@code writeRecordLsn} as it was when prepared. An I/O error of
 *       a job is latched ({@link WalSyncFailedException}): the store refuses writes and flushes
 *       from then on.</li>
 *   <li><b>{@link #truncate} and {@link #open}</b> ({@link SegmentDirectory#cutAt}): delete the
 *       segments after the end's segment, fsync the {@code .partial} ones before it and give them
 *       their final names, cut the end's segment at the end and extend it back to full size (so
 *       the rest reads as zeros, at O(1) cost instead of writing up to a segment of zeros), fsync
 *       it, give it the {@code .partial} name, fsync the directory.</li>
 * </ul>
 *
 * <h2>Opening</h2>
 * {@link WalEndScanner} finds the end of WAL by decoding the stored records (its documentation says
 * from where), and {@link SegmentDirectory#cutAt} fixes the files up to it. The end found becomes
 * {@code writeLsn = writeRecordLsn = flushRecordLsn}: what is on disk after a restart is treated
 * as durable, which holds because the segment holding the end (and every {@code .partial} one
 * before it) is fsynced there, the segments with final names were fsynced before they got them,
 * and the directory was fsynced after every creation, deletion and truncation before anything was
 * acknowledged. Bytes after the end are garbage of a torn or rejected write: they are
 * <b>zeroed</b> (the cut described above) and later segments deleted, so the next write continues
 * on a clean tail and a later restart cannot mistake old bytes for WAL. Where no end is found
 * (no segment holds WAL, or only the headers of {@link #initialize}), the store opens empty and
 * its segment files are deleted.
 *
 * <p>Used by one thread at a time (the timeline actor's), except that a {@link FlushJob} runs on
 * another thread. Not thread-safe otherwise.
 */
public final class SegmentedWalStore implements WalStore {
    private static final Logger log = LoggerFactory.getLogger(SegmentedWalStore.class);
    /** The largest average flush (bytes written per flush in the current segment) that gets a zero-filled spare. */
    static final int ZERO_FILL_MAX_BYTES_PER_FLUSH = 16 * 1024;

    private final Path dir;
    private final SegmentDirectory files;
    private final WalFormat format;
    private final int segmentSize;
    private final FileSync sync;
    private final Executor spareMaker;

    private boolean empty = true;
    private boolean closed;
    private long writeLsn;
    private long writeRecordLsn;
    private long flushRecordLsn;
    /** Decodes the written stream; positioned at {@link #writeLsn}. */
    private WalRecordScanner scanner;
    /** The segment holding {@link #writeLsn} (or starting there), open for writing; null if not yet created. */
    private OpenSegment current;
    /** Segments filled since the last flush job was prepared: still {@code .partial}, not synced. */
    private final List<SegmentFlushJob.Filled> filled = new ArrayList<>();
    /** The job prepared and not yet completed. */
    private SegmentFlushJob inFlight;
    /** The spare for the segment after {@link #current}, made or being made; null if none was started. */
    private SpareSegment spare;
    /** Flush jobs prepared with writes of the current segment (or, at a segment boundary, the one filled last). */
    private int flushesOfCurrent;
    /** Counts truncations and the close: a job prepared before one is stale. */
    private long epoch;
    /** Set by a failed flush job, on its thread: final. */
    private volatile WalSyncFailedException syncFailure;
    /** Why writes are refused until the next {@link #truncate}: an earlier write failed. */
    private Exception writeFailure;
    /** During a write: record ends above this are not counted yet (their alignment padding is missing). */
    private long recordEndLimit;
    /** During a write: the last record end not above {@link #recordEndLimit}. */
    private long recordEndFound;

    private SegmentedWalStore(SegmentDirectory files, WalFormat format, FileSync sync, Executor spareMaker) {
        this.dir = files.dir();
        this.files = files;
        this.format = format;
        this.segmentSize = format.walSegSize();
        this.sync = Objects.requireNonNull(sync);
        this.spareMaker = Objects.requireNonNull(spareMaker);
    }

    /**
     * Opens the WAL in {@code timelineDir} (created if missing) and finds where it ends, as the
     * class documentation describes.
     *
     * @param scanFrom a record boundary known to lie within the stored WAL, where decoding may
     *     start; {@link Lsn#INVALID} if none is known
     * @throws IOException if the files cannot be read or repaired, or segment files hold WAL but no
     *     record boundary can be found in them
     * @throws IllegalArgumentException if {@code scanFrom} cannot be a record boundary (it is not
     *     MAXALIGNed or lies inside a page header)
     */
    public static SegmentedWalStore open(Path timelineDir, WalFormat format, Lsn scanFrom) throws IOException {
        return open(timelineDir, format, scanFrom, FileSync.FORCE);
    }

    /** As {@link #open(Path, WalFormat, Lsn)}, with the flush jobs' segment syncs done by {@code sync}. */
    public static SegmentedWalStore open(Path timelineDir, WalFormat format, Lsn scanFrom, FileSync sync)
            throws IOException {
        return open(timelineDir, format, scanFrom, sync, Runnable::run);
    }

    /**
     * As {@link #open(Path, WalFormat, Lsn, FileSync)}, with spare segments made on
     * {@code spareMaker} (a pool for blocking work; the overloads without it make them on the
     * thread that prepares the flush).
     */
    public static SegmentedWalStore open(Path timelineDir, WalFormat format, Lsn scanFrom, FileSync sync,
                                         Executor spareMaker) throws IOException {
        Objects.requireNonNull(format);
        SegmentedWalStore store = new SegmentedWalStore(SegmentDirectory.create(timelineDir, format), format, sync,
                spareMaker);
        try {
            store.recover(scanFrom);
        } catch (IOException | RuntimeException e) {
            store.close();
            throw e;
        }
        return store;
    }

    @Override
    public boolean isEmpty() {
        return empty;
    }

    @Override
    public Lsn writeLsn() {
        return empty ? Lsn.INVALID : new Lsn(writeLsn);
    }

    @Override
    public Lsn writeRecordLsn() {
        return empty ? Lsn.INVALID : new Lsn(writeRecordLsn);
    }

    /** {@inheritDoc} After {@link #initialize} it stays {@link Lsn#INVALID} until the first flush. */
    @Override
    public Lsn flushRecordLsn() {
        return empty ? Lsn.INVALID : new Lsn(flushRecordLsn);
    }

    /**
     * {@inheritDoc} Creates {@code start}'s segment (durably, empty) and writes
     * {@link WalPageHeaders#initialSegmentBytes} into it.
     *
     * @throws IllegalStateException if the store is not empty
     * @throws IllegalArgumentException if {@code start} cannot be a record boundary
     */
    @Override
    public void initialize(Lsn start) throws IOException {
        requireOpen();
        requireSynced();
        if (!empty) {
            throw new IllegalStateException("cannot initialise WAL at " + start + ": the store already holds WAL up to "
                    + writeLsn());
        }
        byte[] head = WalPageHeaders.initialSegmentBytes(format, start);
        WalRecordScanner startScanner = newScanner(start.value());
        OpenSegment segment = files.createSegment(start.segmentNumber(segmentSize));
        current = segment;
        if (head.length > 0) {
            SegmentFiles.writeFully(segment.channel, ByteBuffer.wrap(head), 0);
            segment.dirty = true;
        }
        scanner = startScanner;
        writeLsn = start.value();
        writeRecordLsn = start.value();
        flushRecordLsn = 0;
        empty = false;
    }

    /**
     * {@inheritDoc}
     *
     * <p>The bytes are decoded before anything is written: when the scanner rejects them, the
     * {@link WalFormatException} is thrown with no byte written and no position moved (not even over
     * valid records at the start of the rejected bytes). The decoder cannot resynchronise after
     * invalid bytes, so from then on writes fail with {@link IllegalStateException} until
     * {@link #truncate} (the next ProposerElected) or a reopen. An {@link IOException} while writing
     * has the same effect; the bytes written before it lie after {@code writeLsn} and are zeroed by
     * that truncation or reopen. {@code writeRecordLsn} only counts records whose alignment padding
     * was written too, so it never passes {@code writeLsn}.
     *
     * @throws IllegalArgumentException if {@code begin} is not {@link #writeLsn()}
     * @throws IllegalStateException if the store is empty (not initialised) or an earlier write failed
     * @throws WalFormatException if the bytes are not valid WAL continuing the stream
     * @throws WalSyncFailedException if a flush job failed
     */
    @Override
    public void write(Lsn begin, ByteSlice bytes) throws IOException {
        requireOpen();
        requireSynced();
        if (empty) {
            throw new IllegalStateException("cannot write WAL at " + begin + ": the store holds no WAL yet"
                    + " (initialise it first)");
        }
        if (writeFailure != null) {
            throw new IllegalStateException("cannot write WAL at " + begin + ": an earlier write or truncation at write_lsn "
                    + writeLsn() + " failed; truncate first", writeFailure);
        }
        if (begin.value() != writeLsn) {
            throw new IllegalArgumentException("write at " + begin + " but write_lsn is " + writeLsn()
                    + (begin.compareTo(writeLsn()) < 0 ? ": it rewrites WAL" : ": it leaves a gap"));
        }
        if (bytes.isEmpty()) {
            return;
        }
        long end = begin.plus(bytes.length()).value();
        recordEndLimit = end;
        recordEndFound = writeRecordLsn;
        long pending = scanner.lastRecordEnd().value();
        if (Long.compareUnsigned(pending, writeRecordLsn) > 0 && Long.compareUnsigned(pending, end) <= 0) {
            recordEndFound = pending;
        }
        try {
            scanner.feed(bytes);
        } catch (WalFormatException e) {
            writeFailure = e;
            throw e;
        }
        try {
            writeSegments(bytes);
        } catch (IOException | RuntimeException e) {
            writeFailure = e;
            throw e;
        }
        writeLsn = end;
        writeRecordLsn = recordEndFound;
    }

    /** {@inheritDoc} Waits for a job in flight and completes it first. */
    @Override
    public void flush() throws IOException {
        settleInFlight();
        WalStore.super.flush();
    }

    /**
     * {@inheritDoc} The job syncs the segments filled since the last job and the one being written
     * if it holds writes. Once {@link #writeLsn} has passed half of the current segment, the spare
     * is started too (unless it was already).
     */
    @Override
    public FlushJob prepareFlush() throws IOException {
        requireOpen();
        requireSynced();
        if (inFlight != null) {
            throw new IllegalStateException("a flush of WAL up to " + inFlight.target() + " is in flight");
        }
        OpenSegment dirty = null;
        if (current != null && current.dirty) {
            dirty = current;
            current.dirty = false; // the job's fsync covers every write until now
        }
        if (dirty != null || !filled.isEmpty()) {
            flushesOfCurrent++;
        }
        SegmentFlushJob job = new SegmentFlushJob(epoch, empty ? 0 : writeRecordLsn, dir, sync, filled, dirty,
                this::latch);
        filled.clear();
        inFlight = job;
        if (!empty && spare == null) {
            startSpare();
        }
        return job;
    }

    /** Starts making the next segment if the write position has passed half of the current one. */
    private void startSpare() {
        long written = current != null ? writeLsn - current.segNo * segmentSize : segmentSize;
        if (written < segmentSize / 2) {
            return;
        }
        long segNo = current != null ? current.segNo + 1 : writeLsn / segmentSize;
        boolean zeroFilled = flushesOfCurrent > 0 && written / flushesOfCurrent <= ZERO_FILL_MAX_BYTES_PER_FLUSH;
        spare = new SpareSegment(segNo, dir, files.name(segNo), segmentSize, zeroFilled);
        try {
            spareMaker.execute(spare);
        } catch (RejectedExecutionException e) {
            spare.cancel(); // the switch creates the segment itself
        }
    }

    @Override
    public boolean completeFlush(FlushJob flushJob) throws IOException {
        SegmentFlushJob job = (SegmentFlushJob) flushJob;
        if (job.epoch != epoch) {
            return false;
        }
        requireSynced();
        if (!job.succeeded()) {
            throw new IllegalStateException("flush job completed before it ran");
        }
        if (inFlight == job) {
            inFlight = null;
        }
        if (!empty) {
            flushRecordLsn = Math.max(flushRecordLsn, job.target().value());
        }
        return true;
    }

    /** Waits for the job in flight and completes it (its FlushDone, arriving later, changes nothing). */
    private void settleInFlight() throws IOException {
        SegmentFlushJob job = inFlight;
        if (job != null) {
            job.await();
            completeFlush(job);
        }
    }

    private void latch(WalSyncFailedException failure) {
        if (syncFailure == null) {
            syncFailure = failure;
        }
    }

    private void requireSynced() throws WalSyncFailedException {
        WalSyncFailedException failure = syncFailure;
        if (failure != null) {
            throw new WalSyncFailedException("WAL in " + dir + " refuses service: an earlier fsync failed",
                    failure.getCause());
        }
    }

    /**
     * {@inheritDoc} All three positions become {@code end}, and a failed write is forgotten.
     * {@code end} is checked to be of a record boundary's form (MAXALIGNed, outside page headers);
     * that a record really ends there is the caller's word.
     *
     * @throws IllegalArgumentException if {@code end} is beyond {@link #writeRecordLsn()} or cannot
     *     be a record boundary
     * @throws IllegalStateException if the store is empty
     */
    @Override
    public void truncate(Lsn end) throws IOException {
        requireOpen();
        requireSynced();
        if (empty) {
            throw new IllegalStateException("cannot truncate WAL to " + end + ": the store holds no WAL");
        }
        if (end.compareTo(writeRecordLsn()) > 0) {
            throw new IllegalArgumentException("cannot truncate WAL to " + end + ": beyond write_record_lsn "
                    + writeRecordLsn());
        }
        WalRecordScanner endScanner = newScanner(end.value());
        if (inFlight != null) {
            inFlight.await(); // its files are about to change under it
            requireSynced();
        }
        dropJobs();
        flushesOfCurrent = 0;
        try {
            closeCurrent();
            current = files.cutAt(end.value(), files.list());
        } catch (IOException | RuntimeException e) {
            writeFailure = e;
            throw e;
        }
        scanner = endScanner;
        writeLsn = end.value();
        writeRecordLsn = end.value();
        flushRecordLsn = end.value();
        writeFailure = null;
    }

    /**
     * Closes the open segments without fsync: what was not flushed may be lost, as in a crash. A
     * flush job in flight is cancelled if it has not started (its runner may be gone), else
     * waited for; completing it afterwards does nothing.
     */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        SegmentFlushJob job = inFlight;
        if (job != null && !job.cancel()) {
            job.await();
        }
        if (job != null) {
            filled.addAll(job.filled()); // closed below with the rest (a second close does nothing)
        }
        dropJobs();
        closeCurrent();
    }

    /**
     * Makes every job prepared so far stale, stops the spare (its file, if made, is a never-written
     * spare, deleted by a cut) and closes the filled segments not yet synced.
     */
    private void dropJobs() throws IOException {
        epoch++;
        inFlight = null;
        SpareSegment stopped = spare;
        spare = null;
        if (stopped != null) {
            stopped.cancel();
            stopped.await();
        }
        IOException failure = null;
        for (SegmentFlushJob.Filled f : filled) {
            try {
                f.segment().close();
            } catch (IOException e) {
                failure = e;
            }
        }
        filled.clear();
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public String toString() {
        return "SegmentedWalStore[" + dir + (empty ? ", empty]" : ", write_lsn " + writeLsn() + ", write_record_lsn "
                + writeRecordLsn() + ", flush_record_lsn " + flushRecordLsn() + "]");
    }

    // ---- Opening ---------------------------------------------------------------------------------

    private void recover(Lsn scanFrom) throws IOException {
        SegmentFiles.deleteTempFiles(dir);
        NavigableMap<Long, Path> segments = files.list();
        // A start and an end line only: the scan is one blocking call, usually short, and an
        // operator waiting on a slow start sees which directory it is reading.
        if (!segments.isEmpty()) {
            log.info("scanning WAL from {} in {} ({} segment files)", scanFrom, dir, segments.size());
        }
        long started = System.nanoTime();
        long end = new WalEndScanner(dir, format).findEnd(segments, scanFrom);
        long millis = (System.nanoTime() - started) / 1_000_000;
        if (end < 0) {
            if (!segments.isEmpty()) {
                log.info("no WAL in {} ({} ms): deleting {} unwritten segment files", dir, millis, segments.size());
            }
            // No segment holds WAL: whatever files there are were created but never written.
            files.deleteAll(segments);
            return;
        }
        log.info("found the end of WAL at {} in {}: {} MB after {} in {} ms", new Lsn(end), dir,
                Math.max(0, end - scanFrom.value()) / (1024 * 1024), scanFrom, millis);
        current = files.cutAt(end, segments);
        scanner = newScanner(end);
        writeLsn = end;
        writeRecordLsn = end;
        flushRecordLsn = end;
        empty = false;
    }

    // ---- Files -----------------------------------------------------------------------------------

    /** Writes {@code bytes} from {@link #writeLsn}, segment by segment, setting filled ones aside for the next flush job. */
    private void writeSegments(ByteSlice bytes) throws IOException {
        long position = writeLsn;
        int done = 0;
        while (done < bytes.length()) {
            long segNo = position / segmentSize;
            int offset = (int) (position % segmentSize);
            int n = (int) Math.min(bytes.length() - done, segmentSize - offset);
            if (current == null) {
                current = openNext(segNo);
            } else if (current.segNo != segNo) {
                throw new IllegalStateException("open segment " + current.segNo + " does not hold " + new Lsn(position));
            }
            SegmentFiles.writeFully(current.channel, ByteBuffer.wrap(bytes.backingArray(), bytes.offset() + done, n), offset);
            current.dirty = true;
            done += n;
            position += n;
            if (offset + n == segmentSize) {
                filled.add(new SegmentFlushJob.Filled(current, files.partialPath(current.segNo), files.finalPath(current.segNo)));
                current = null;
            }
        }
    }

    /**
     * Segment {@code segNo}, which is about to receive its first byte: the spare made ahead for it
     * (waiting for the job making it, in the rare case that writing outran it), else created now.
     */
    private OpenSegment openNext(long segNo) throws IOException {
        flushesOfCurrent = 0;
        SpareSegment made = spare;
        spare = null;
        if (made != null) {
            if (made.segNo != segNo) {
                made.cancel();
                made.await();
                throw new IllegalStateException("spare segment " + made.segNo + " made, but segment " + segNo + " is next");
            }
            made.await();
            if (made.file() != null) {
                return new OpenSegment(segNo, made.file());
            }
        }
        return files.createSegment(segNo); // no spare, or making it failed: whatever broke it shows here
    }

    private WalRecordScanner newScanner(long start) {
        return new WalRecordScanner(format, new Lsn(start), this::onRecord);
    }

    private void onRecord(Lsn start, Lsn end) {
        if (Long.compareUnsigned(end.value(), recordEndLimit) <= 0) {
            recordEndFound = end.value();
        }
    }

    private void closeCurrent() throws IOException {
        OpenSegment segment = current;
        current = null;
        if (segment != null) {
            segment.close();
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("WAL store " + dir + " is closed");
        }
    }
}
