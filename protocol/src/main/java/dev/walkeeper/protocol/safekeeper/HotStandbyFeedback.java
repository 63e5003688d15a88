package dev.walkeeper.protocol.safekeeper;

/**
 * The hot-standby feedback of the standbys reading from a safekeeper, relayed to the compute so it
 * keeps the rows they still see. The xmins are full transaction ids, {@code (epoch << 32) | xid}.
 *
 * @param ts the standby's send time, µs since 2000-01-01
 */
public record HotStandbyFeedback(long ts, long xmin, long catalogXmin) {
    /** No standby connected: what Neon sends then. */
    public static final HotStandbyFeedback EMPTY = new HotStandbyFeedback(0, 0, 0);
}
