package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.Lsn;
import java.util.ArrayList;
import java.util.List;

/**
 * The term switches of a log, oldest first, ordered by LSN. Order is not checked here: a history
 * arrives from a peer, and judging it (and comparing histories) is the consensus core's work.
 */
public record TermHistory(List<TermSwitch> entries) {
    public static final TermHistory EMPTY = new TermHistory(List.of());

    public TermHistory {
        entries = List.copyOf(entries);
    }

    public boolean isEmpty() {
        return entries.isEmpty();
    }

    /** The term of the last switch, or 0 (Neon's {@code INITIAL_TERM}, never elected) when empty. */
    public long lastTerm() {
        return entries.isEmpty() ? 0 : entries.get(entries.size() - 1).term();
    }

    /**
     * The switches at or before {@code lsn}: the history as far as a log ending at {@code lsn}
     * has it — what an acceptor reports in a VoteResponse, cut at its flush LSN. Like Neon's
     * {@code up_to}, it stops at the first switch after {@code lsn}.
     */
    public TermHistory upTo(Lsn lsn) {
        List<TermSwitch> kept = new ArrayList<>(entries.size());
        for (TermSwitch e : entries) {
            if (e.lsn().compareTo(lsn) > 0) {
                break;
            }
            kept.add(e);
        }
        return kept.size() == entries.size() ? this : new TermHistory(kept);
    }
}
