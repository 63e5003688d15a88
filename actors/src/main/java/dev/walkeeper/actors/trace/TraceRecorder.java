package dev.walkeeper.actors.trace;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Instant;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Records events into arrays allocated up front: a stamp claims a slot with one atomic increment
 * and writes three primitives, so any thread (actor, flusher, plain socket loop) can stamp
 * without locks or allocation. When the arrays are full, further events are counted and dropped.
 * A slot is published by writing its stage last (release), so {@link #snapshot()} may run while
 * others stamp and skips slots still being written.
 */
public final class TraceRecorder {
    private static final VarHandle STAGE = MethodHandles.arrayElementVarHandle(byte[].class);
    private static final Stage[] STAGES = Stage.values();

    private final String source;
    private final int defaultNode;
    private final long clockNanos;
    private final long clockEpochNanos;
    /** Stage ordinal + 1; 0 marks a slot not (yet) written. */
    private final byte[] stages;
    private final byte[] nodes;
    private final long[] lsns;
    private final long[] nanos;
    private final AtomicLong next = new AtomicLong();

    /**
     * @param defaultNode the node index of stamps that give none (a node process's own index in
     *                    the bridge's node list, {@code walkeeper.trace.node})
     */
    public TraceRecorder(String source, int maxEvents, int defaultNode) {
        if (maxEvents < 0) {
            throw new IllegalArgumentException("max events must not be negative: " + maxEvents);
        }
        checkNode(defaultNode);
        this.source = source;
        this.defaultNode = defaultNode;
        this.stages = new byte[maxEvents];
        this.nodes = new byte[maxEvents];
        this.lsns = new long[maxEvents];
        this.nanos = new long[maxEvents];
        // Read together, so that other processes' times can be related to ours (see TraceReport).
        this.clockNanos = System.nanoTime();
        Instant now = Instant.now();
        this.clockEpochNanos = now.getEpochSecond() * 1_000_000_000L + now.getNano();
    }

    public String source() {
        return source;
    }

    public void stamp(Stage stage, long lsn) {
        stampAt(stage, lsn, defaultNode, System.nanoTime());
    }

    public void stamp(Stage stage, long lsn, int node) {
        stampAt(stage, lsn, node, System.nanoTime());
    }

    /** An event at a {@link System#nanoTime()} taken earlier, e.g. when bytes were read before their LSN was known. */
    public void stampAt(Stage stage, long lsn, int node, long nanoTime) {
        checkNode(node);
        long slot = next.getAndIncrement();
        if (slot >= stages.length) {
            return;
        }
        int i = (int) slot;
        nodes[i] = (byte) node;
        lsns[i] = lsn;
        nanos[i] = nanoTime;
        STAGE.setRelease(stages, i, (byte) (stage.ordinal() + 1));
    }

    /** The most events it records ({@code walkeeper.trace.max-events}). */
    public int capacity() {
        return stages.length;
    }

    public int defaultNode() {
        return defaultNode;
    }

    /** A copy of the events recorded so far, in the order their slots were claimed. */
    public TraceLog snapshot() {
        int claimed = (int) Math.min(next.get(), stages.length);
        int count = 0;
        Stage[] outStages = new Stage[claimed];
        byte[] outNodes = new byte[claimed];
        long[] outLsns = new long[claimed];
        long[] outNanos = new long[claimed];
        for (int i = 0; i < claimed; i++) {
            byte stage = (byte) STAGE.getAcquire(stages, i);
            if (stage == 0) {
                continue; // claimed but not written yet
            }
            outStages[count] = STAGES[stage - 1];
            outNodes[count] = nodes[i];
            outLsns[count] = lsns[i];
            outNanos[count] = nanos[i];
            count++;
        }
        return new TraceLog(source, clockNanos, clockEpochNanos, Math.max(0, next.get() - stages.length),
                Arrays.copyOf(outStages, count), Arrays.copyOf(outNodes, count),
                Arrays.copyOf(outLsns, count), Arrays.copyOf(outNanos, count));
    }

    private static void checkNode(int node) {
        if (node < 0 || node > Byte.MAX_VALUE) {
            throw new IllegalArgumentException("node index must be 0.." + Byte.MAX_VALUE + ": " + node);
        }
    }
}
