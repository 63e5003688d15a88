package dev.walkeeper.actors.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class TraceReportTest {
    private static final long MS = 1_000_000L;

    private static TraceReport.Row row(TraceReport report, String stage) {
        return report.rows().stream().filter(r -> r.stage().equals(stage)).findFirst()
                .orElseThrow(() -> new AssertionError("no row " + stage + " in\n" + report.table()));
    }

    @Test
    void oneFlushAndOneResponseAcknowledgeEveryEarlierAppend() {
        TraceRecorder load = new TraceRecorder("load", 100, 0);
        TraceRecorder node = new TraceRecorder("node", 100, 0);
        for (int i = 0; i < 3; i++) {
            long lsn = 100 * (i + 1);
            load.stampAt(Stage.LOAD_SENT, lsn, 0, i * MS);
            node.stampAt(Stage.NODE_DECODED, lsn, 0, i * MS + MS / 2);
        }
        node.stampAt(Stage.FSYNC_DONE, 300, 0, 10 * MS); // one fsync for all three
        node.stampAt(Stage.RESPONSE_WRITTEN, 300, 0, 11 * MS);
        load.stampAt(Stage.LOAD_ACKED, 300, 0, 12 * MS);

        TraceReport report = TraceReport.analyze(List.of(load.snapshot(), node.snapshot()));

        TraceReport.Row decoded = row(report, "NODE_DECODED");
        assertEquals(new TraceReport.Row("NODE_DECODED", "LOAD_SENT", 3, 0, 0.5, 0.5), decoded);
        // From each append's own decode: 9.5, 8.5, 7.5 ms.
        assertEquals(new TraceReport.Row("FSYNC_DONE", "NODE_DECODED", 3, 0, 8.5, 9.5), row(report, "FSYNC_DONE"));
        assertEquals(new TraceReport.Row("RESPONSE_WRITTEN", "FSYNC_DONE", 3, 0, 1.0, 1.0),
                row(report, "RESPONSE_WRITTEN"));
        assertEquals(new TraceReport.Row("LOAD_ACKED", "RESPONSE_WRITTEN", 3, 0, 1.0, 1.0), row(report, "LOAD_ACKED"));
        assertEquals(new TraceReport.Row("end to end", "LOAD_SENT to LOAD_ACKED", 3, 0, 11.0, 12.0),
                row(report, "end to end"));
    }

    @Test
    void aResponseCoversOnlyTheAppendsUpToItsFlushLsnAndTheFirstCoveringEventCounts() {
        TraceRecorder load = new TraceRecorder("load", 100, 0);
        load.stampAt(Stage.LOAD_SENT, 100, 0, 0);
        load.stampAt(Stage.LOAD_SENT, 200, 0, MS);
        load.stampAt(Stage.LOAD_SENT, 300, 0, 2 * MS);
        load.stampAt(Stage.LOAD_ACKED, 250, 0, 5 * MS); // a record end inside the third append's range: 100, 200
        load.stampAt(Stage.LOAD_ACKED, 200, 0, 6 * MS); // a repeat reaches nothing new
        load.stampAt(Stage.LOAD_ACKED, 400, 0, 9 * MS); // 300

        TraceReport.Row acked = row(TraceReport.analyze(List.of(load.snapshot())), "LOAD_ACKED");

        assertEquals(3, acked.count());
        assertEquals(5.0, acked.p50Millis()); // 5, 4, 7 ms
        assertEquals(7.0, acked.p99Millis());
    }

    @Test
    void aStageNeverReachedIsCountedMissingAndMeasuredFromTheClosestStageReached() {
        TraceRecorder load = new TraceRecorder("load", 100, 0);
        TraceRecorder node = new TraceRecorder("node", 100, 0);
        load.stampAt(Stage.LOAD_SENT, 100, 0, 0);
        load.stampAt(Stage.LOAD_SENT, 200, 0, MS);
        node.stampAt(Stage.NODE_WRITTEN, 100, 0, 2 * MS);
        node.stampAt(Stage.NODE_WRITTEN, 200, 0, 3 * MS);
        node.stampAt(Stage.FSYNC_DONE, 100, 0, 4 * MS); // 200 is never flushed
        load.stampAt(Stage.LOAD_ACKED, 100, 0, 5 * MS);

        TraceReport report = TraceReport.analyze(List.of(load.snapshot(), node.snapshot()));

        assertEquals(new TraceReport.Row("NODE_WRITTEN", "LOAD_SENT", 2, 0, 2.0, 2.0), row(report, "NODE_WRITTEN"));
        assertEquals(new TraceReport.Row("FSYNC_DONE", "NODE_WRITTEN", 1, 1, 2.0, 2.0), row(report, "FSYNC_DONE"));
        assertEquals(new TraceReport.Row("LOAD_ACKED", "FSYNC_DONE", 1, 1, 1.0, 1.0), row(report, "LOAD_ACKED"));
        assertEquals(new TraceReport.Row("end to end", "LOAD_SENT to LOAD_ACKED", 1, 1, 5.0, 5.0),
                row(report, "end to end"));
    }

    @Test
    void percentilesAreNearestRank() {
        TraceRecorder load = new TraceRecorder("load", 1000, 0);
        for (int i = 1; i <= 200; i++) { // durations 1..200 ms
            load.stampAt(Stage.LOAD_SENT, i, 0, 1000 * i * MS);
            load.stampAt(Stage.LOAD_ACKED, i, 0, 1000 * i * MS + i * MS);
        }

        TraceReport.Row acked = row(TraceReport.analyze(List.of(load.snapshot())), "LOAD_ACKED");

        assertEquals(100.0, acked.p50Millis());
        assertEquals(198.0, acked.p99Millis());
    }

    @Test
    void perNodeStagesFollowTheirNodeAndTheQuorumCountsFromTheResponseThatCompletedIt() {
        TraceRecorder bridge = new TraceRecorder("bridge", 100, 0);
        bridge.stampAt(Stage.BRIDGE_XLOGDATA_READ, 100, 0, 0);
        long[] responded = {3 * MS, 5 * MS, 9 * MS};
        for (int node = 0; node < 3; node++) {
            bridge.stampAt(Stage.BRIDGE_APPEND_SENT, 100, node, MS);
            bridge.stampAt(Stage.BRIDGE_RESPONSE_READ, 100, node, responded[node]);
        }
        bridge.stampAt(Stage.BRIDGE_QUORUM, 100, 0, 6 * MS); // after the second response
        bridge.stampAt(Stage.BRIDGE_STATUS_SENT, 100, 0, 7 * MS);
        TraceRecorder node1 = new TraceRecorder("node1", 100, 1); // its own stamps carry its index
        node1.stamp(Stage.FSYNC_DONE, 100);
        TraceLog node1Log = node1.snapshot();
        // Place node 1's fsync at 4 ms on the bridge's clock: same monotonic clock, same offset.
        TraceLog aligned = new TraceLog("node1", bridge.snapshot().clockNanos(), bridge.snapshot().clockEpochNanos(),
                0, new Stage[] {Stage.FSYNC_DONE}, new byte[] {1}, new long[] {100}, new long[] {4 * MS});
        assertEquals(1, node1Log.node(0));

        TraceReport report = TraceReport.analyze(List.of(bridge.snapshot(), aligned));

        assertEquals(new TraceReport.Row("FSYNC_DONE", "BRIDGE_APPEND_SENT", 1, 0, 3.0, 3.0), row(report, "FSYNC_DONE"));
        // Node 1 reads its response 1 ms after its fsync; nodes 0 and 2 from the append: 2 and 8 ms.
        assertEquals(new TraceReport.Row("BRIDGE_RESPONSE_READ", "BRIDGE_APPEND_SENT", 3, 0, 2.0, 8.0),
                row(report, "BRIDGE_RESPONSE_READ"));
        assertEquals(new TraceReport.Row("BRIDGE_QUORUM", "BRIDGE_RESPONSE_READ", 1, 0, 1.0, 1.0),
                row(report, "BRIDGE_QUORUM"));
        assertEquals(new TraceReport.Row("end to end", "BRIDGE_XLOGDATA_READ to BRIDGE_STATUS_SENT", 1, 0, 7.0, 7.0),
                row(report, "end to end"));
    }

    @Test
    void logsOfAnotherMonotonicClockAreAlignedByTheWallClock() {
        long second = 1_000_000_000L;
        TraceLog load = new TraceLog("load", 0, 100 * second, 0, new Stage[] {Stage.LOAD_SENT, Stage.LOAD_ACKED},
                new byte[2], new long[] {100, 100}, new long[] {0, 10 * MS});
        // Its nanoTime 5 s ahead at the same wall-clock time: its 5 s + 4 ms is the load's 4 ms.
        TraceLog node = new TraceLog("node", 5 * second, 100 * second, 0, new Stage[] {Stage.FSYNC_DONE},
                new byte[1], new long[] {100}, new long[] {5 * second + 4 * MS});

        TraceReport report = TraceReport.analyze(List.of(load, node));

        assertEquals(4.0, row(report, "FSYNC_DONE").p50Millis());
        assertEquals(6.0, row(report, "LOAD_ACKED").p50Millis());
        assertTrue(report.notes().stream().anyMatch(n -> n.startsWith("node: 1 events, another monotonic clock")),
                report.notes().toString());
    }

    @Test
    void aWindowKeepsTheCommitsThatStartedInIt() {
        TraceRecorder load = new TraceRecorder("load", 100, 0);
        for (int i = 0; i < 10; i++) {
            load.stampAt(Stage.LOAD_SENT, 100 * (i + 1), 0, i * 10 * MS);
            load.stampAt(Stage.LOAD_ACKED, 100 * (i + 1), 0, i * 10 * MS + (i + 1) * MS);
        }

        TraceReport report = TraceReport.analyze(List.of(load.snapshot()), 30 * MS, 60 * MS);

        assertEquals(new TraceReport.Row("LOAD_ACKED", "LOAD_SENT", 3, 0, 5.0, 6.0), row(report, "LOAD_ACKED"));
    }

    @Test
    void noEventsMakeAnEmptyReport() {
        TraceReport report = TraceReport.analyze(List.of(new TraceRecorder("idle", 10, 0).snapshot()));

        assertEquals(List.of(), report.rows());
        assertEquals(List.of("idle: 0 events", "no events"), report.notes());
    }

    @Test
    void theTableHasALineAStageWithItsColumnsAligned() {
        TraceRecorder bridge = new TraceRecorder("bridge", 100, 0);
        bridge.stampAt(Stage.BRIDGE_XLOGDATA_READ, 100, 0, 0);
        bridge.stampAt(Stage.BRIDGE_QUORUM, 100, 0, MS);
        bridge.stampAt(Stage.BRIDGE_STATUS_SENT, 100, 0, 3 * MS);

        List<String> lines = TraceReport.analyze(List.of(bridge.snapshot())).table().lines().toList();

        assertEquals(List.of("stage", "from", "count", "missing", "p50", "ms", "p99", "ms"),
                List.of(lines.get(0).trim().split("\\s+")));
        assertEquals(List.of("end", "to", "end", "BRIDGE_XLOGDATA_READ", "to", "BRIDGE_STATUS_SENT", "1", "0", "3.000",
                "3.000"), List.of(lines.get(3).trim().split("\\s+")));
        assertEquals(lines.get(0).length(), lines.get(3).length());
        assertEquals("  bridge: 3 events", lines.get(4));
    }
}
