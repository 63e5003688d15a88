package dev.walkeeper.protocol.wal;

import dev.walkeeper.protocol.Lsn;

/**
 * Bytes that are not valid WAL where WAL was expected: a bad page header, record header or CRC.
 * Unchecked, like the wire protocol's errors: the stream cannot be resynchronised, so the only
 * sensible reaction is to reject it whole. The message names the LSN and what was wrong there.
 */
public final class WalFormatException extends RuntimeException {
    private final Lsn lsn;

    public WalFormatException(Lsn lsn, String problem) {
        super(problem + " at " + lsn);
        this.lsn = lsn;
    }

    /** Where the problem was found: the page or record at fault. */
    public Lsn lsn() {
        return lsn;
    }
}
