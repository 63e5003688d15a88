package dev.walkeeper.actors.consensus;

/**
 * A proposer message that breaks a consensus rule (generation mismatch, append before election,
 * rewrite or gap, greeting mismatch): the connection ends with an ErrorResponse and the proposer
 * reconnects. Messages print both values, so the log says why.
 */
public final class AcceptorException extends RuntimeException {
    private final boolean silent;

    public AcceptorException(String message) {
        this(message, false);
    }

    private AcceptorException(String message, boolean silent) {
        super(message);
        this.silent = silent;
    }

    /** The timeline does not exist and the proposer may not create it: end without an ErrorResponse, as Neon. */
    public static AcceptorException timelineNotCreated(String id) {
        return new AcceptorException("timeline " + id + " does not exist and allow_timeline_creation is false", true);
    }

    /** True when the stream should end without an ErrorResponse. */
    public boolean silent() {
        return silent;
    }
}
