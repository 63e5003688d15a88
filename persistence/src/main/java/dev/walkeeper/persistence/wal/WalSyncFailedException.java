package dev.walkeeper.persistence.wal;

import java.io.IOException;

/**
 * An fsync of WAL failed. It is final for the store (as PostgreSQL PANICs): after Linux has
 * reported a writeback error it clears it, so a retried fsync could succeed while the data never
 * reached the disk. The store refuses writes and flushes from then on, and what its files hold
 * must not be trusted again in the same process.
 */
public final class WalSyncFailedException extends IOException {
    public WalSyncFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
