package dev.walkeeper.actors.connection;

/** What the {@link Connection} does after a role in CopyBoth handled a message. */
enum Next {
    /** Stay in the role's state. */
    STAY,
    /** The stream ended cleanly (the role wrote ReadyForQuery): back to the simple-query loop. */
    QUERIES,
    /** Close: whatever the role wrote is flushed, then the socket closes. */
    DRAIN
}
