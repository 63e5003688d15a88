package dev.walkeeper.actors.trace;

/**
 * The stages of one commit, in the order a commit passes them: {@link TraceReport} measures each
 * stage from the closest earlier stage that the same commit reached. Stages with {@link #perNode()}
 * happen once per node a commit goes to and carry that node's index.
 */
public enum Stage {
    /** Load generator ({@code bench ingest}): the AppendRequest handed to the socket. */
    LOAD_SENT(false),
    /** Bridge: an XLogData message from the primary decoded (LSN: the end of its WAL). */
    BRIDGE_XLOGDATA_READ(false),
    /** Bridge: an AppendRequest handed to the socket of node {@code node}. */
    BRIDGE_APPEND_SENT(true),
    /** Node: the bytes of the frame read from the socket (stamped with {@link CommitTrace#stampAt} once decoded). */
    NODE_READ(true),
    /** Node: the AppendRequest decoded. */
    NODE_DECODED(true),
    /** Node: the append received by the timeline. */
    NODE_AT_TIMELINE(true),
    /** Node: the WAL store's write() returned. */
    NODE_WRITTEN(true),
    /** Node: a flush up to the LSN requested. */
    NODE_FLUSH_REQUESTED(true),
    /** Node: fsync up to the LSN started. */
    FSYNC_STARTED(true),
    /** Node: fsync up to the LSN returned. */
    FSYNC_DONE(true),
    /** Node: the timeline learnt that the LSN is flushed. */
    FLUSH_DONE_AT_TIMELINE(true),
    /** Node: an AppendResponse with this flush LSN handed to the socket. */
    RESPONSE_WRITTEN(true),
    /** Bridge: an AppendResponse with this flush LSN from node {@code node} decoded. */
    BRIDGE_RESPONSE_READ(true),
    /** Bridge: the quorum's flush LSN (the commit LSN) advanced to the LSN. */
    BRIDGE_QUORUM(false),
    /** Bridge: a standby status update with this flush LSN handed to the primary's socket. */
    BRIDGE_STATUS_SENT(false),
    /** Load generator: an AppendResponse with this flush LSN read. */
    LOAD_ACKED(false);

    private final boolean perNode;

    Stage(boolean perNode) {
        this.perNode = perNode;
    }

    /** Whether the stage happens once per node, told apart by the events' node index. */
    public boolean perNode() {
        return perNode;
    }
}
