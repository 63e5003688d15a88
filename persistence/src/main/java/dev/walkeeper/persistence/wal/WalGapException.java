package dev.walkeeper.persistence.wal;

import java.io.IOException;

/**
 * Pushed WAL does not continue the WAL stored: it starts after its end, so bytes in between would
 * be missing. A pusher always sends from the position the receiver asked for, so this means the
 * two sides disagree and the push must be restarted from the receiver's position.
 */
public final class WalGapException extends IOException {
    public WalGapException(String message) {
        super(message);
    }
}
