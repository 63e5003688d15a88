package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import java.io.IOException;

/**
 * The WAL of one timeline as the acceptor sees it: appended in order, made durable by an explicit
 * flush, cut back by truncation. Positions are LSNs; "record" positions are ends of complete WAL
 * records (MAXALIGNed, as PostgreSQL reports them), which is what may be acknowledged as flushed.
 *
 * <p>Used from one thread at a time (the timeline's), except {@link FlushJob#run()}, which is
 * meant to run on another thread while writing goes on.
 */
public interface WalStore extends AutoCloseable {

    /** True until WAL has been initialised or written. */
    boolean isEmpty();

    /** End of the bytes written, possibly inside a record and not yet durable. */
    Lsn writeLsn();

    /** End of the last complete, valid record written (may not be durable yet). */
    Lsn writeRecordLsn();

    /** End of the last complete record that is durable: never beyond {@link #writeRecordLsn()}. */
    Lsn flushRecordLsn();

    /**
     * Positions an empty store at {@code start} and writes the headers that must precede WAL there
     * (the segment's long page header, the page header of {@code start}'s page), so tools such as
     * pg_waldump can read the segment. Not fsynced: the next {@link #flush()} covers it.
     */
    void initialize(Lsn start) throws IOException;

    /**
     * Appends {@code bytes}, which must begin exactly at {@link #writeLsn()}; no fsync. Record
     * boundaries are learnt by decoding the bytes; invalid WAL fails with an exception and writes
     * nothing. After a failed write (invalid WAL or an I/O error) further writes are refused until
     * {@link #truncate}: the decoder cannot resynchronise by itself. The bytes are read in place
     * (decoded and written to the file from the caller's array), not copied or kept.
     */
    void write(Lsn begin, ByteSlice bytes) throws IOException;

    /**
     * Makes everything written durable; afterwards {@code flushRecordLsn() == writeRecordLsn()}.
     * Waits for a flush job in flight first. The two phases in one call, for callers that may block.
     */
    default void flush() throws IOException {
        FlushJob job = prepareFlush();
        job.run();
        completeFlush(job);
    }

    /**
     * First phase of a flush, on the owner's thread: captures what the fsync must cover (everything
     * written so far) and returns it as a job, to be {@linkplain FlushJob#run() run} on any thread
     * while writes go on. At most one job may be in flight.
     *
     * @throws IllegalStateException if a job is in flight (prepared, not yet completed)
     * @throws WalSyncFailedException if an earlier fsync failed
     */
    FlushJob prepareFlush() throws IOException;

    /**
     * Last phase of a flush, on the owner's thread, after {@link FlushJob#run()} returned:
     * {@link #flushRecordLsn()} advances to the job's target.
     *
     * @return false if the job is stale (a truncation or close came after it was prepared): nothing
     *     changed
     * @throws WalSyncFailedException if the job (or an earlier one) failed
     */
    boolean completeFlush(FlushJob job) throws IOException;

    /** The fsync work of one flush, prepared by {@link #prepareFlush()}. */
    interface FlushJob {
        /** The record LSN that is durable once {@link #run()} returned. */
        Lsn target();

        /** False when there is nothing to sync: {@link #run()} returns at once. */
        boolean hasWork();

        /**
         * Does the fsyncs, on any thread, concurrently with writes of the store's owner (they are
         * not covered). Runs at most once. A failure is latched by the store: it refuses writes
         * and flushes from then on.
         *
         * @throws WalSyncFailedException if an fsync failed
         */
        void run() throws IOException;
    }

    /**
     * Durably cuts the WAL at {@code end}, a record boundary not beyond {@link #writeRecordLsn()},
     * so that the next write starts there. Used when a new term's history diverges from ours.
     * Afterwards write, record and flush positions all equal {@code end}.
     */
    void truncate(Lsn end) throws IOException;

    @Override
    void close() throws IOException;
}
