package dev.walkeeper.actors.consensus;

/**
 * A node showed the proposer a term that is not its own to use: a higher one (another proposer
 * is running, or won) or, before our election, ours taken by someone else. The proposer is
 * finished — as Neon's walproposer, which exits FATAL/PANIC here — and every later input throws
 * this again; the bridge stops streaming and may start a new proposer (which picks a higher term).
 */
public final class ProposerSteppedDown extends RuntimeException {
    private final int node;
    private final long term;

    ProposerSteppedDown(int node, long term, long ourTerm, String why) {
        super("node " + node + " " + why + ": its term " + Long.toUnsignedString(term) + ", ours "
                + Long.toUnsignedString(ourTerm));
        this.node = node;
        this.term = term;
    }

    /** The node index that reported the term. */
    public int node() {
        return node;
    }

    /** The term that made us step down (unsigned 64-bit). */
    public long term() {
        return term;
    }
}
