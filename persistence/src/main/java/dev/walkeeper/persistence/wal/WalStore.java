package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.Lsn;
import java.io.IOException;

/**
 * The WAL of one timeline as the acceptor sees it: appended in order, made durable by an explicit
 * flush, cut back by truncation. Positions are LSNs; "record" positions are ends of complete WAL
 * records (MAXALIGNed, as PostgreSQL reports them), which is what may be acknowledged as flushed.
 *
 * <p>Used from one thread at a time (the timeline's).
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
     * {@link #truncate}: the decoder cannot resynchronise by itself.
     */
    void write(Lsn begin, byte[] bytes) throws IOException;

    /** Makes everything written durable; afterwards {@code flushRecordLsn() == writeRecordLsn()}. */
    void flush() throws IOException;

    /**
     * Durably cuts the WAL at {@code end}, a record boundary not beyond {@link #writeRecordLsn()},
     * so that the next write starts there. Used when a new term's history diverges from ours.
     * Afterwards write, record and flush positions all equal {@code end}.
     */
    void truncate(Lsn end) throws IOException;

    @Override
    void close() throws IOException;
}
