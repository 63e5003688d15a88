package dev.walkeeper.actors.trace;

import java.util.Arrays;

/**
 * The events one process recorded, as read from its trace file or taken from a live recorder.
 * Event times are that process's {@link System#nanoTime()}; the clock reference (a nanoTime and
 * the wall-clock time read together) relates them to other processes' times.
 */
public final class TraceLog {
    private final String source;
    private final long clockNanos;
    private final long clockEpochNanos;
    private final long dropped;
    private final Stage[] stages;
    private final byte[] nodes;
    private final long[] lsns;
    private final long[] nanos;

    /** The arrays are owned by the log from now on: callers hand over copies. */
    TraceLog(String source, long clockNanos, long clockEpochNanos, long dropped, Stage[] stages, byte[] nodes,
             long[] lsns, long[] nanos) {
        if (nodes.length != stages.length || lsns.length != stages.length || nanos.length != stages.length) {
            throw new IllegalArgumentException("event arrays of different lengths");
        }
        this.source = source;
        this.clockNanos = clockNanos;
        this.clockEpochNanos = clockEpochNanos;
        this.dropped = dropped;
        this.stages = stages;
        this.nodes = nodes;
        this.lsns = lsns;
        this.nanos = nanos;
    }

    /** The process's name ({@code walkeeper.trace.source}). */
    public String source() {
        return source;
    }

    /** A {@link System#nanoTime()} reading of the process ... */
    public long clockNanos() {
        return clockNanos;
    }

    /** ... and the wall-clock time, in nanoseconds since the epoch, read right after it. */
    public long clockEpochNanos() {
        return clockEpochNanos;
    }

    /** Events not recorded because the recorder was full ({@code walkeeper.trace.max-events}). */
    public long dropped() {
        return dropped;
    }

    public int size() {
        return stages.length;
    }

    public Stage stage(int i) {
        return stages[i];
    }

    public int node(int i) {
        return nodes[i];
    }

    public long lsn(int i) {
        return lsns[i];
    }

    public long nanos(int i) {
        return nanos[i];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TraceLog other && source.equals(other.source) && clockNanos == other.clockNanos
                && clockEpochNanos == other.clockEpochNanos && dropped == other.dropped
                && Arrays.equals(stages, other.stages) && Arrays.equals(nodes, other.nodes)
                && Arrays.equals(lsns, other.lsns) && Arrays.equals(nanos, other.nanos);
    }

    @Override
    public int hashCode() {
        return source.hashCode() * 31 + Arrays.hashCode(lsns);
    }

    @Override
    public String toString() {
        return "TraceLog[" + source + ", " + size() + " events, " + dropped + " dropped]";
    }
}
