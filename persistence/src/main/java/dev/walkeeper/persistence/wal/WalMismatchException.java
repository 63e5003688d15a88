package dev.walkeeper.persistence.wal;

import java.io.IOException;

/**
 * WAL pushed again over bytes already stored differs from them. Only committed WAL is pushed and
 * committed WAL never changes, so this means the directory holds WAL of another history (another
 * cluster, or a timeline reused); nothing is overwritten.
 */
public final class WalMismatchException extends IOException {
    public WalMismatchException(String message) {
        super(message);
    }
}
