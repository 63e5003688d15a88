package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalFormatException;
import dev.walkeeper.protocol.wal.WalPageHeaders;
import dev.walkeeper.protocol.wal.WalRecordScanner;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Objects;
import java.util.TreeMap;

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
 *       is made ahead, as a <em>spare</em>, by the flush job that runs once the write position has
 *       passed half of the current segment; the switch to it only opens it. Without a spare (a
 *       write crossing half a segment and its end at once, {@link #initialize}) it is created
 *       when the first byte is written to it.</li>
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
 *   <li><b>{@link #truncate} and {@link #open}</b>: delete the segments after the end's segment,
 *       cut the end's segment at the end and extend it back to full size (so the rest reads as
 *       zeros, at O(1) cost instead of writing up to a segment of zeros), fsync it, give it the
 *       {@code .partial} name, fsync the directory.</li>
 * </ul>
 *
 * <h2>Finding the end of WAL on open</h2>
 * The end is found from the WAL itself, by decoding records forward with a
 * {@link WalRecordScanner} (page headers, record headers, CRCs) up to the first invalid record, a
 * zero {@code xl_tot_len} or page header (never-written space), or a missing segment. Where the
 * decoding starts:
 * <ul>
 *   <li>never after the oldest {@code .partial} segment: a filled segment keeps that name until its
 *       fsync, so later segments may have reached the disk while it has holes; only decoding
 *       through it, CRC by CRC, proves it;</li>
 *   <li>at {@code scanFrom}, a record boundary the caller knows (its journaled flush checkpoint or
 *       commit LSN), when it is valid and its segment exists, and at least one record is found
 *       after it;</li>
 *   <li>otherwise at the first record boundary of the <em>last</em> segment that holds WAL, found as
 *       PostgreSQL's {@code XLogFindNextRecord} finds it: the first page's {@code xlp_rem_len}
 *       (page by page if needed) skips the tail of a record begun in the previous segment. If the
 *       segment holds nothing but such a tail, or no complete record follows the tail (so the tail
 *       itself is unproven: it may be torn), decoding starts in the previous segment instead. Only
 *       the last segment, or the last two, are read: O(one segment), whatever the WAL's length.
 *       A tail followed by valid records is trusted without its CRC (its start is in the previous
 *       segment): only an OS crash that lost a block in the middle of the tail while keeping the
 *       page headers around it and the records after it could fool this, so only WAL that had not
 *       been fsynced (nor acknowledged) before the crash.</li>
 * </ul>
 * A {@code scanFrom} followed by no record is not trusted, because a crash between a truncation
 * below it and the caller's journaling of a lower hint would leave it pointing into zeros past
 * the real end. The end found becomes {@code writeLsn = writeRecordLsn = flushRecordLsn}: what is
 * on disk after a restart is treated as durable, which holds because the segment holding the end
 * (and every {@code .partial} one before it) is fsynced here, the segments with final names were
 * fsynced before they got them, and the directory was fsynced after every creation, deletion and
 * truncation before anything was acknowledged. Bytes after the end are garbage of a torn or
 * rejected write: they are <b>zeroed</b> (the cut described above) and later segments deleted, so
 * the next write continues on a clean tail and a later restart cannot mistake old bytes for WAL.
 * A directory holding no segment whose first page header is set, or only the headers of
 * {@link #initialize} without one complete record after them, opens as an empty store (and its
 * segment files are deleted): no record there was ever acknowledged, and the acceptor's journaled
 * timeline start says where WAL begins.
 *
 * <p>Used by one thread at a time (the timeline actor's), except that a {@link FlushJob} runs on
 * another thread. Not thread-safe otherwise.
 */
public final class SegmentedWalStore implements WalStore {
    private static final int READ_CHUNK = 128 * 1024;

    private final Path dir;
    private final WalFormat format;
    private final int segmentSize;
    private final FileSync sync;

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
    /** The job that makes (or made) the spare for the segment after {@link #current}. */
    private SegmentFlushJob spareJob;
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

    private SegmentedWalStore(Path dir, WalFormat format, FileSync sync) {
        this.dir = dir;
        this.format = format;
        this.segmentSize = format.walSegSize();
        this.sync = Objects.requireNonNull(sync);
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
        Objects.requireNonNull(format);
        Path dir = timelineDir.toAbsolutePath().normalize();
        Path existing = dir;
        while (!Files.isDirectory(existing)) {
            existing = existing.getParent();
        }
        Files.createDirectories(dir);
        for (Path created = dir; !created.equals(existing); created = created.getParent()) {
            SegmentFiles.fsyncDirectory(created.getParent()); // its entry must survive a crash too
        }
        SegmentedWalStore store = new SegmentedWalStore(dir, format, sync);
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
        OpenSegment segment = createSegment(start.segmentNumber(segmentSize));
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
    public void write(Lsn begin, byte[] bytes) throws IOException {
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
        if (bytes.length == 0) {
            return;
        }
        long end = begin.plus(bytes.length).value();
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
     * if it holds writes; it also makes the next segment ahead once {@link #writeLsn} has passed
     * half of the current one (and no spare was made yet).
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
        SegmentFlushJob.Spare spare = null;
        if (!empty && spareJob == null) {
            long nextSegNo = current != null ? current.segNo + 1 : writeLsn / segmentSize;
            if (current == null || writeLsn - current.segNo * segmentSize >= segmentSize / 2) {
                spare = new SegmentFlushJob.Spare(nextSegNo, XLogFileName.of(format.timeline(), nextSegNo, segmentSize));
            }
        }
        SegmentFlushJob job = new SegmentFlushJob(epoch, empty ? 0 : writeRecordLsn, dir, segmentSize, sync,
                filled, dirty, spare, this::latch);
        filled.clear();
        if (spare != null) {
            spareJob = job;
        }
        inFlight = job;
        return job;
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
        try {
            closeCurrent();
            cutAt(end.value(), listSegments());
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

    /** Makes every job prepared so far stale and closes the filled segments not yet synced. */
    private void dropJobs() throws IOException {
        epoch++;
        inFlight = null;
        spareJob = null;
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

    // ---- Recovery --------------------------------------------------------------------------------

    private void recover(Lsn scanFrom) throws IOException {
        SegmentFiles.deleteTempFiles(dir);
        NavigableMap<Long, Path> segments = listSegments();
        long end = -1;
        if (scanFrom.isValid()) {
            newScanner(scanFrom.value()); // a malformed hint is the caller's bug: fail loudly
            if (segments.containsKey(scanFrom.segmentNumber(segmentSize))) {
                Scan scan = scan(segments, scanFrom.value());
                if (scan.records > 0) {
                    end = scan.end;
                }
            }
        }
        if (end < 0) {
            end = endFromLastSegments(segments);
        }
        if (end >= 0 && end <= firstRecordOfOldestSegment(segments)) {
            // Headers from initialize() but not one complete record: nothing durable was ever
            // acknowledged from here, so this is an empty store, to be initialised again.
            end = -1;
        }
        if (end < 0) {
            // No segment holds WAL: whatever files there are were created but never written.
            for (Path file : segments.values()) {
                Files.delete(file);
            }
            if (!segments.isEmpty()) {
                SegmentFiles.fsyncDirectory(dir);
            }
            return;
        }
        cutAt(end, segments);
        scanner = newScanner(end);
        writeLsn = end;
        writeRecordLsn = end;
        flushRecordLsn = end;
        empty = false;
    }

    /** The first record boundary of the oldest segment, or -1 when it has none. */
    private long firstRecordOfOldestSegment(NavigableMap<Long, Path> segments) throws IOException {
        Map.Entry<Long, Path> oldest = segments.firstEntry();
        return oldest == null ? -1 : firstRecord(oldest.getKey(), oldest.getValue()).lsn;
    }

    /**
     * The end of WAL decoded from the first record boundary of the last segment holding WAL, as
     * the class documentation describes; -1 if no segment holds WAL.
     */
    private long endFromLastSegments(NavigableMap<Long, Path> segments) throws IOException {
        long unproven = -1;
        boolean holdsWal = false;
        NavigableMap<Long, Path> candidates = segments;
        for (Map.Entry<Long, Path> entry : segments.entrySet()) {
            if (isPartial(entry.getValue())) {
                candidates = segments.headMap(entry.getKey(), true);
                break;
            }
        }
        for (Map.Entry<Long, Path> entry : candidates.descendingMap().entrySet()) {
            long segNo = entry.getKey();
            FirstRecord first = firstRecord(segNo, entry.getValue());
            if (first == FirstRecord.NO_WAL) {
                continue;
            }
            holdsWal = true;
            if (first == FirstRecord.NONE) {
                continue;
            }
            Scan scan = scan(segments, first.lsn);
            if (scan.records > 0 || !first.afterTail || !segments.containsKey(segNo - 1)) {
                return scan.end;
            }
            if (unproven < 0) {
                unproven = scan.end;
            }
        }
        if (unproven >= 0) {
            return unproven;
        }
        if (holdsWal) {
            throw new IOException("WAL segments in " + dir + " hold WAL but no record boundary: " + segments.keySet());
        }
        return -1;
    }

    /** Where the first record of a segment begins; see {@link #firstRecord}. */
    private record FirstRecord(long lsn, boolean afterTail) {
        /** The first page header is all zeros: the segment was created but never written. */
        static final FirstRecord NO_WAL = new FirstRecord(-1, false);
        /** The segment holds WAL but no record starts in it (only a tail, or invalid headers). */
        static final FirstRecord NONE = new FirstRecord(-2, false);
    }

    /**
     * The first record boundary in segment {@code segNo}, found as {@code XLogFindNextRecord} does:
     * while a page starts with the tail of a record begun earlier ({@code XLP_FIRST_IS_CONTRECORD}),
     * {@code xlp_rem_len} tells how much of it is on the page; the first record starts after the
     * tail, MAXALIGNed, or after the header of the first page without the flag. Reads one page
     * header per page of the tail.
     */
    private FirstRecord firstRecord(long segNo, Path file) throws IOException {
        long segmentStart = segNo * segmentSize;
        ByteBuffer header = ByteBuffer.allocate(WalFormat.SIZE_OF_XLOG_LONG_PHD).order(ByteOrder.LITTLE_ENDIAN);
        boolean tailEndsHere = false;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            for (int page = 0; page < segmentSize; page += WalFormat.XLOG_BLCKSZ) {
                int headerSize = WalPageHeaders.size(format, segmentStart + page);
                Arrays.fill(header.array(), (byte) 0);
                header.clear().limit(headerSize);
                readFully(channel, header, page);
                boolean zero = isZero(header, headerSize);
                if (zero && page == 0) {
                    return FirstRecord.NO_WAL;
                }
                if (zero) {
                    // Never-written space: fine right after a tail that ended with the previous page.
                    return tailEndsHere ? new FirstRecord(segmentStart + page, true) : FirstRecord.NONE;
                }
                int magic = header.getShort(0) & 0xFFFF;
                int info = header.getShort(2) & 0xFFFF;
                long pageAddr = header.getLong(8);
                long remLen = header.getInt(16) & 0xFFFF_FFFFL;
                if (magic != format.pageMagic() || pageAddr != segmentStart + page) {
                    return FirstRecord.NONE;
                }
                if ((info & WalPageHeaders.XLP_FIRST_IS_CONTRECORD) == 0) {
                    // The scanner starts at the page start and checks this header itself.
                    return new FirstRecord(segmentStart + page, page > 0);
                }
                int space = WalFormat.XLOG_BLCKSZ - headerSize;
                if (remLen < space) {
                    return new FirstRecord(segmentStart + page + headerSize + WalFormat.maxAlign(remLen), true);
                }
                tailEndsHere = remLen == space;
            }
        }
        return tailEndsHere ? new FirstRecord(segmentStart + segmentSize, true) : FirstRecord.NONE;
    }

    private record Scan(long end, long records) {
    }

    /**
     * Decodes forward from record boundary {@code from} through consecutive segments, up to the
     * first invalid record, never-written space, a missing segment or a short file.
     */
    private Scan scan(NavigableMap<Long, Path> segments, long from) throws IOException {
        WalRecordScanner decoder = new WalRecordScanner(format, new Lsn(from));
        ByteBuffer buffer = ByteBuffer.allocate(READ_CHUNK);
        long position = from;
        scanning:
        for (;;) {
            long segNo = position / segmentSize;
            Path file = segments.get(segNo);
            if (file == null) {
                break;
            }
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                for (long offset = position - segNo * segmentSize; offset < segmentSize; ) {
                    int want = (int) Math.min(buffer.capacity(), segmentSize - offset);
                    buffer.clear().limit(want);
                    int got = readFully(channel, buffer, offset);
                    try {
                        decoder.feed(buffer.array(), 0, got);
                    } catch (WalFormatException e) {
                        break scanning;
                    }
                    if (decoder.atEndOfWal() || got < want) {
                        break scanning;
                    }
                    offset += got;
                    position += got;
                }
            }
        }
        return new Scan(decoder.lastRecordEnd().value(), decoder.recordCount());
    }

    // ---- Files -----------------------------------------------------------------------------------

    /**
     * Makes {@code end} the end of the stored WAL: deletes the segments after it, fsyncs the
     * {@code .partial} segments before the one holding {@code end} (filled, maybe never synced) and
     * gives them their final names, cuts the segment holding {@code end} there (the rest reads as
     * zeros), names it {@code .partial} and makes it the open segment; everything fsynced, the
     * directory last.
     */
    private void cutAt(long end, NavigableMap<Long, Path> segments) throws IOException {
        long endSegNo = end / segmentSize;
        int endOffset = (int) (end % segmentSize);
        long lastKept = endOffset == 0 ? endSegNo - 1 : endSegNo;
        if (endOffset != 0 && !segments.containsKey(endSegNo)) {
            throw new IOException("no segment file holds " + new Lsn(end) + " in " + dir);
        }
        for (Path file : segments.tailMap(lastKept, false).descendingMap().values()) {
            Files.delete(file);
        }
        for (Map.Entry<Long, Path> entry : segments.headMap(endSegNo, false).entrySet()) {
            Path before = entry.getValue();
            // At a segment boundary the one ending there is the open segment's equivalent: synced here.
            if (isPartial(before) || entry.getKey() == endSegNo - 1 && endOffset == 0) {
                try (FileChannel channel = FileChannel.open(before, StandardOpenOption.WRITE)) {
                    channel.force(true);
                }
                if (isPartial(before)) {
                    Files.move(before, finalPath(entry.getKey()), StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
        if (endOffset != 0) {
            Path file = segments.get(endSegNo);
            OpenSegment segment = new OpenSegment(endSegNo, file);
            try {
                segment.file.setLength(endOffset);
                segment.file.setLength(segmentSize);
                segment.channel.force(true);
                if (!isPartial(file)) {
                    Files.move(file, partialPath(endSegNo), StandardCopyOption.ATOMIC_MOVE);
                }
            } catch (IOException | RuntimeException e) {
                segment.close();
                throw e;
            }
            current = segment;
        }
        SegmentFiles.fsyncDirectory(dir);
    }

    /** Writes {@code bytes} from {@link #writeLsn}, segment by segment, setting filled ones aside for the next flush job. */
    private void writeSegments(byte[] bytes) throws IOException {
        long position = writeLsn;
        int done = 0;
        while (done < bytes.length) {
            long segNo = position / segmentSize;
            int offset = (int) (position % segmentSize);
            int n = (int) Math.min(bytes.length - done, segmentSize - offset);
            if (current == null) {
                current = openNext(segNo);
            } else if (current.segNo != segNo) {
                throw new IllegalStateException("open segment " + current.segNo + " does not hold " + new Lsn(position));
            }
            SegmentFiles.writeFully(current.channel, ByteBuffer.wrap(bytes, done, n), offset);
            current.dirty = true;
            done += n;
            position += n;
            if (offset + n == segmentSize) {
                filled.add(new SegmentFlushJob.Filled(current, partialPath(current.segNo), finalPath(current.segNo)));
                current = null;
            }
        }
    }

    /**
     * Segment {@code segNo}, which is about to receive its first byte: the spare made ahead for it
     * (waiting for the job making it, in the rare case that writing outran it), else created now.
     */
    private OpenSegment openNext(long segNo) throws IOException {
        SegmentFlushJob job = spareJob;
        if (job != null && job.spare.segNo() == segNo) {
            job.await();
            requireSynced();
            spareJob = null;
            if (job.spareFile() != null) {
                return new OpenSegment(segNo, job.spareFile());
            }
        }
        return createSegment(segNo);
    }

    /** A new, full-size, zero-filled {@code .partial} segment, durably in place. */
    private OpenSegment createSegment(long segNo) throws IOException {
        return new OpenSegment(segNo, SegmentFiles.createPreallocated(dir,
                XLogFileName.of(format.timeline(), segNo, segmentSize), segmentSize));
    }

    /** Our segment files by number; where both names exist, the {@code .partial} one. */
    private NavigableMap<Long, Path> listSegments() throws IOException {
        NavigableMap<Long, Path> segments = new TreeMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                boolean partial = XLogFileName.isPartialWalFileName(name);
                if (!partial && !XLogFileName.isWalFileName(name) || XLogFileName.timeline(name) != format.timeline()) {
                    continue;
                }
                long segNo;
                try {
                    segNo = XLogFileName.segNo(name, segmentSize);
                } catch (IllegalArgumentException e) {
                    throw new IOException("unexpected WAL file " + file + " for " + segmentSize + "-byte segments", e);
                }
                if (partial || !segments.containsKey(segNo)) {
                    segments.put(segNo, file);
                }
            }
        }
        return segments;
    }

    private Path finalPath(long segNo) {
        return dir.resolve(XLogFileName.of(format.timeline(), segNo, segmentSize));
    }

    private Path partialPath(long segNo) {
        return dir.resolve(XLogFileName.of(format.timeline(), segNo, segmentSize) + XLogFileName.PARTIAL_SUFFIX);
    }

    private static boolean isPartial(Path file) {
        return file.getFileName().toString().endsWith(XLogFileName.PARTIAL_SUFFIX);
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

    /** Reads until the buffer is full or the file ends; returns the bytes read. */
    private static int readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        int start = buffer.position();
        while (buffer.hasRemaining()) {
            if (channel.read(buffer, position + buffer.position() - start) < 0) {
                break;
            }
        }
        return buffer.position() - start;
    }

    private static boolean isZero(ByteBuffer buffer, int length) {
        for (int i = 0; i < length; i++) {
            if (buffer.get(i) != 0) {
                return false;
            }
        }
        return true;
    }
}
