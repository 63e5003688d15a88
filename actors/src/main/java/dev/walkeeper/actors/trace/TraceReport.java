package dev.walkeeper.actors.trace;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The latency budget of the commits in one or more trace logs: per stage, how long after the
 * closest earlier stage a commit reached it (p50, p99), and end to end.
 *
 * <p><b>Commits.</b> The first stage (in {@link Stage} order) that has events defines the commits:
 * each distinct LSN it recorded is one commit, keyed by that end LSN ({@code LOAD_SENT} in
 * {@code bench ingest}, {@code BRIDGE_XLOGDATA_READ} behind a primary).
 *
 * <p><b>Ranges.</b> Every stage is read as a watermark: a commit with end LSN {@code L} reaches a
 * stage at the first event of that stage (and node) with an LSN {@code ≥ L}. An AppendResponse's
 * flush LSN thus acknowledges every commit up to it, one fsync covers every append written before
 * it, an AppendRequest that carries several XLogData messages sends them all, and a message split
 * into several appends reaches the node with the last. Events are taken in time order, so the
 * commits a stage has reached are always those up to the highest LSN it has recorded so far. This
 * assumes LSNs only grow during a trace: WAL truncated and rewritten by a new term is not traced
 * correctly.
 *
 * <p><b>Durations.</b> A stage is measured from the closest earlier stage the commit reached: a
 * per-node stage from the same node's earlier stage (or the closest shared one), a shared stage
 * after per-node ones from the latest node's event that came no later than it (the quorum from
 * the response that completed it). A negative duration means a stamp sits in the wrong place.
 * End to end runs from the first stage to the last when other stages lie between them; a
 * per-node last stage counts when every node reached it.
 *
 * <p><b>Clocks.</b> Times are {@link System#nanoTime()}, which on Linux is CLOCK_MONOTONIC and
 * comparable between the JVMs of one machine. Each log's clock reference (a nanoTime read with
 * the wall clock) checks that: logs whose offsets between the two clocks differ by more than
 * {@link #SAME_CLOCK_TOLERANCE_NANOS} are aligned by the wall clock instead, and a note says so.
 * All times, including a report's window, are in the first log's nanoTime.
 */
public final class TraceReport {
    /** Beyond NTP slewing between JVMs started minutes apart. */
    static final long SAME_CLOCK_TOLERANCE_NANOS = 10_000_000L;
    private static final long ABSENT = Long.MIN_VALUE;
    private static final Stage[] STAGES = Stage.values();

    /** One line of the table; {@code from} is the earlier stage it was most often measured from. */
    public record Row(String stage, String from, int count, int missing, double p50Millis, double p99Millis) {}

    private final List<Row> rows;
    private final List<String> notes;

    private TraceReport(List<Row> rows, List<String> notes) {
        this.rows = List.copyOf(rows);
        this.notes = List.copyOf(notes);
    }

    public static TraceReport analyze(List<TraceLog> logs) {
        return analyze(logs, Long.MIN_VALUE, Long.MAX_VALUE);
    }

    /** Only the commits whose first stage happened in [{@code fromNanos}, {@code toNanos}). */
    public static TraceReport analyze(List<TraceLog> logs, long fromNanos, long toNanos) {
        List<String> notes = new ArrayList<>();
        Map<Stage, Map<Integer, List<long[]>>> events = merge(logs, notes); // stage -> lane -> {nanos, lsn}
        if (events.isEmpty()) {
            notes.add("no events");
            return new TraceReport(List.of(), notes);
        }
        Stage origin = events.keySet().iterator().next();
        long[] keys = events.get(origin).values().stream().flatMap(List::stream).mapToLong(e -> e[1])
                .sorted().distinct().toArray();
        Map<Stage, Map<Integer, long[]>> reached = new EnumMap<>(Stage.class);
        events.forEach((stage, lanes) -> {
            Map<Integer, long[]> byLane = new TreeMap<>();
            lanes.forEach((lane, list) -> byLane.put(lane, reach(list, keys)));
            reached.put(stage, byLane);
        });
        long[] originTimes = new long[keys.length];
        boolean[] included = new boolean[keys.length];
        for (int k = 0; k < keys.length; k++) {
            originTimes[k] = earliest(reached.get(origin), k);
            included[k] = originTimes[k] >= fromNanos && originTimes[k] < toNanos;
        }

        List<Row> rows = new ArrayList<>();
        for (Stage stage : reached.keySet()) {
            if (stage != origin) {
                rows.add(stageRow(stage, origin, reached, originTimes, included));
            }
        }
        Stage last = reached.keySet().stream().reduce((a, b) -> b).orElseThrow();
        if (rows.size() > 1) { // with one stage after the first, it is that stage's row again
            rows.add(endToEnd(origin, last, reached.get(last), originTimes, included));
        }
        return new TraceReport(rows, notes);
    }

    /** Reads the trace files; a file that is missing is noted (its process was killed, or traced nothing). */
    public static TraceReport ofFiles(List<Path> files, long fromNanos, long toNanos) throws IOException {
        List<TraceLog> logs = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        for (Path file : files) {
            if (Files.exists(file)) {
                logs.add(TraceFile.read(file));
            } else {
                missing.add("no trace file " + file);
            }
        }
        TraceReport report = analyze(logs, fromNanos, toNanos);
        List<String> notes = new ArrayList<>(missing);
        notes.addAll(report.notes);
        return new TraceReport(report.rows, notes);
    }

    public List<Row> rows() {
        return rows;
    }

    /** The sources and their event counts, clock alignments, dropped events. */
    public List<String> notes() {
        return notes;
    }

    /** A plain-text table, one stage a line, then the notes. */
    public String table() {
        int stageWidth = Math.max(24, rows.stream().mapToInt(r -> r.stage().length()).max().orElse(0));
        int fromWidth = Math.max(24, rows.stream().mapToInt(r -> r.from().length()).max().orElse(0));
        String header = "%-" + stageWidth + "s %-" + fromWidth + "s %9s %8s %10s %10s%n";
        String line = "%-" + stageWidth + "s %-" + fromWidth + "s %9d %8d %10.3f %10.3f%n";
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, header, "stage", "from", "count", "missing",
                "p50 ms", "p99 ms"));
        for (Row row : rows) {
            out.append(String.format(Locale.ROOT, line, row.stage(), row.from(), row.count(), row.missing(),
                    row.p50Millis(), row.p99Millis()));
        }
        notes.forEach(note -> out.append("  ").append(note).append(System.lineSeparator()));
        return out.toString();
    }

    /** Events by stage (in pipeline order) and lane, times moved onto the first log's clock. */
    private static Map<Stage, Map<Integer, List<long[]>>> merge(List<TraceLog> logs, List<String> notes) {
        Map<Stage, Map<Integer, List<long[]>>> events = new EnumMap<>(Stage.class);
        if (logs.isEmpty()) {
            return events;
        }
        long reference = logs.get(0).clockEpochNanos() - logs.get(0).clockNanos();
        for (TraceLog log : logs) {
            long offset = log.clockEpochNanos() - log.clockNanos() - reference;
            long shift = Math.abs(offset) <= SAME_CLOCK_TOLERANCE_NANOS ? 0 : offset;
            notes.add(String.format(Locale.ROOT, "%s: %d events%s%s", log.source(), log.size(),
                    log.dropped() > 0 ? ", " + log.dropped() + " dropped (max-events reached: the last commits are"
                            + " incomplete)" : "",
                    shift != 0 ? ", another monotonic clock: aligned by the wall clock (error of a few µs or more)"
                            : ""));
            for (int i = 0; i < log.size(); i++) {
                Stage stage = log.stage(i);
                int lane = stage.perNode() ? log.node(i) : 0;
                events.computeIfAbsent(stage, s -> new TreeMap<>()).computeIfAbsent(lane, l -> new ArrayList<>())
                        .add(new long[] {log.nanos(i) + shift, log.lsn(i)});
            }
        }
        return events;
    }

    /**
     * When each commit (sorted end LSNs) reached the stage: in time order, an event with LSN E
     * reaches every commit up to E not reached before.
     */
    private static long[] reach(List<long[]> events, long[] keys) {
        events.sort(Comparator.comparingLong(e -> e[0]));
        long[] times = new long[keys.length];
        Arrays.fill(times, ABSENT);
        int next = 0;
        for (long[] event : events) {
            while (next < keys.length && keys[next] <= event[1]) {
                times[next++] = event[0];
            }
        }
        return times;
    }

    private static Row stageRow(Stage stage, Stage origin, Map<Stage, Map<Integer, long[]>> reached,
                                long[] originTimes, boolean[] included) {
        Samples samples = new Samples();
        int missing = 0;
        int[] from = new int[STAGES.length];
        for (Map.Entry<Integer, long[]> lane : reached.get(stage).entrySet()) {
            long[] times = lane.getValue();
            for (int k = 0; k < times.length; k++) {
                if (!included[k]) {
                    continue;
                }
                if (times[k] == ABSENT) {
                    missing++;
                    continue;
                }
                for (int p = stage.ordinal() - 1; p >= origin.ordinal(); p--) {
                    long previous = previous(STAGES[p], origin, stage, lane.getKey(), times[k], k, reached,
                            originTimes);
                    if (previous != ABSENT) {
                        samples.add(times[k] - previous);
                        from[p]++;
                        break;
                    }
                }
            }
        }
        int mostFrequent = origin.ordinal();
        for (int p = 0; p < from.length; p++) {
            mostFrequent = from[p] > from[mostFrequent] ? p : mostFrequent;
        }
        return samples.row(stage.name(), STAGES[mostFrequent].name(), missing);
    }

    /** When the commit reached the earlier stage {@code p} as seen from {@code stage} on {@code lane}; or ABSENT. */
    private static long previous(Stage p, Stage origin, Stage stage, int lane, long time, int k,
                                 Map<Stage, Map<Integer, long[]>> reached, long[] originTimes) {
        if (p == origin) {
            return originTimes[k];
        }
        Map<Integer, long[]> lanes = reached.get(p);
        if (lanes == null) {
            return ABSENT;
        }
        if (!p.perNode()) {
            return lanes.get(0)[k];
        }
        if (stage.perNode()) {
            long[] sameNode = lanes.get(lane);
            return sameNode == null ? ABSENT : sameNode[k];
        }
        long latest = ABSENT; // the node whose event completed what the shared stage waited for
        for (long[] times : lanes.values()) {
            if (times[k] != ABSENT && times[k] <= time && times[k] > latest) {
                latest = times[k];
            }
        }
        return latest;
    }

    /** From the first stage to the last; a per-node last stage counts when every node reached it. */
    private static Row endToEnd(Stage origin, Stage last, Map<Integer, long[]> lanes, long[] originTimes,
                                boolean[] included) {
        Samples samples = new Samples();
        int missing = 0;
        for (int k = 0; k < originTimes.length; k++) {
            if (!included[k]) {
                continue;
            }
            long end = ABSENT;
            for (long[] times : lanes.values()) {
                end = times[k] == ABSENT || end == Long.MAX_VALUE ? Long.MAX_VALUE : Math.max(end, times[k]);
            }
            if (end == Long.MAX_VALUE) {
                missing++;
            } else {
                samples.add(end - originTimes[k]);
            }
        }
        return samples.row("end to end", origin.name() + " to " + last.name(), missing);
    }

    private static long earliest(Map<Integer, long[]> lanes, int k) {
        long earliest = Long.MAX_VALUE;
        for (long[] times : lanes.values()) {
            if (times[k] != ABSENT) {
                earliest = Math.min(earliest, times[k]);
            }
        }
        return earliest;
    }

    /** Durations in nanoseconds; percentiles by nearest rank. */
    private static final class Samples {
        private long[] values = new long[1024];
        private int count;

        void add(long nanos) {
            if (count == values.length) {
                values = Arrays.copyOf(values, count * 2);
            }
            values[count++] = nanos;
        }

        Row row(String stage, String from, int missing) {
            long[] sorted = Arrays.copyOf(values, count);
            Arrays.sort(sorted);
            return new Row(stage, from, count, missing, percentile(sorted, 50), percentile(sorted, 99));
        }

        private static double percentile(long[] sorted, double p) {
            if (sorted.length == 0) {
                return Double.NaN;
            }
            int index = (int) Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100.0 * sorted.length) - 1));
            return sorted[index] / 1e6;
        }
    }
}
