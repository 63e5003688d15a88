package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.Lsn;
import java.util.Objects;

/**
 * One entry of a {@link TermHistory}: from {@code lsn} on, the WAL was written by the proposer of
 * {@code term} (an unsigned 64-bit term).
 */
public record TermSwitch(long term, Lsn lsn) {
    public TermSwitch {
        Objects.requireNonNull(lsn, "lsn");
    }
}
