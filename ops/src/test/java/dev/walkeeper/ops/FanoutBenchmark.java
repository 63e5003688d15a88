package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import dev.walkeeper.testkit.TestProposer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench fanout}, run on demand (scripts/bench-fanout.sh; excluded from the test run): one
 * node serves the same committed WAL to N pull consumers (pg_receivewal) and M push downstreams
 * (walkeeper receive) at once; each consumer's MB/s is compared with one pg_receivewal pulling
 * the same WAL from the real PostgreSQL walsender that wrote it, in the same run.
 */
@Tag("bench")
class FanoutBenchmark {
    private static final int SEG = 16 * 1024 * 1024;
    private static final int PULL = Integer.getInteger("fanout.pull", 3);
    private static final int PUSH = Integer.getInteger("fanout.push", 2);
    /** Rows inserted; 120 000 make about 80 MiB of WAL. */
    private static final int ROWS = Integer.getInteger("fanout.rows", 120_000);
    /**
     * Rounds, each a walsender pull then the node's pulls (push downstreams stream in the first
     * only): the first shows the node cold (its send path not yet JIT-compiled), the later ones warm.
     */
    private static final int ROUNDS = Integer.getInteger("fanout.rounds", 6);
    private static final TenantTimelineId ID = new TenantTimelineId("dddddddddddddddddddddddddddddddd",
            "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
    private static final Lsn START = Lsn.parse("0/1000028");

    @TempDir
    Path dir;

    @Test
    void fanout() throws Exception {
        try (PostgresServer primary = PostgresServer.builder().config("wal_keep_size = '4GB'").maxWalSenders(20)
                .build().start()) {
            primary.psql("create table t (id int, v text)");
            primary.psql("insert into t select g, repeat(md5(g::text), 16) from generate_series(1, " + ROWS + ") g");
            long systemId = Long.parseUnsignedLong(primary.psql("select system_identifier from pg_control_system()"));
            int pgVersion = Integer.parseInt(primary.psql("show server_version_num"));
            long lastSegment = (Lsn.parse(primary.psql("select pg_switch_wal()")).value() - 1) / SEG;
            Lsn end = new Lsn((lastSegment + 1) * SEG);
            long bytes = end.value() - SEG;
            Path pgWal = primary.dataDir().resolve("pg_wal");

            double baseline = pull(primary.conninfo("postgres"), "baseline", end, bytes);

            List<WalkeeperNode> downstreams = new ArrayList<>();
            StringBuilder pushConfig = new StringBuilder("walkeeper.push.downstreams = [");
            for (int i = 0; i < PUSH; i++) {
                WalkeeperNode downstream = TestNodes.start(dir.resolve("downstream-" + i),
                        "walkeeper.receive { enabled = true, dir = \"" + dir.resolve("received-" + i) + "\" }");
                downstreams.add(downstream);
                pushConfig.append("{ timeline = \"").append(ID.tenantId()).append('/').append(ID.timelineId())
                        .append("\", host = \"127.0.0.1\", port = ").append(downstream.address().getPort())
                        .append(", user = \"pusher\" },");
            }
            pushConfig.append("]\nwalkeeper.default-timeline = \"").append(ID.tenantId()).append('/')
                    .append(ID.timelineId()).append("\"\n");
            try (WalkeeperNode node = TestNodes.start(dir.resolve("node"), pushConfig.toString());
                 TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
                proposer.greet(pgVersion, systemId, SEG);
                assertTrue(proposer.vote(1).voteGiven());
                proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));
                // Stored first, committed at once: consumers then all start from the same moment.
                Lsn at = START;
                for (long seg = 1; seg <= lastSegment; seg++) {
                    byte[] segment = Files.readAllBytes(pgWal.resolve(XLogFileName.of(1, seg, SEG)));
                    for (int off = seg == 1 ? 0x28 : 0; off < SEG; ) {
                        int length = Math.min(128 * 1024, SEG - off);
                        proposer.append(1, at, Arrays.copyOfRange(segment, off, off + length), Lsn.INVALID);
                        at = at.plus(length);
                        off += length;
                    }
                }
                assertEquals(end, at);
                proposer.awaitFlush(end, Duration.ofSeconds(300));

                List<String> rows = new ArrayList<>();
                // Of the warm rounds (all but the first): the walsender's MB/s and each pull's ratio to it.
                List<Double> warmBaselines = new ArrayList<>();
                List<Double> warmRatios = new ArrayList<>();
                for (int round = 1; round <= ROUNDS; round++) {
                    if (round > 1) {
                        baseline = pull(primary.conninfo("postgres"), "baseline-" + round, end, bytes);
                    }
                    rows.add(row(round, "pg walsender", baseline, baseline));
                    List<RunningProcess> pullers = new ArrayList<>();
                    long started = System.nanoTime();
                    if (round == 1) {
                        proposer.send(new ProposerMessage.AppendRequest(0, 1, end, end, end, Lsn.INVALID,
                                ByteSlice.EMPTY));
                    }
                    for (int i = 0; i < PULL; i++) {
                        pullers.add(startPull("host=127.0.0.1 port=" + node.address().getPort() + " user=bench",
                                "pull-" + round + "-" + i, end));
                    }
                    for (int i = 0; i < PULL; i++) {
                        assertEquals(0, pullers.get(i).waitFor(Duration.ofSeconds(600)), pullers.get(i).output());
                        double mbps = mbps(bytes, System.nanoTime() - started);
                        rows.add(row(round, "pull " + i, mbps, baseline));
                        if (round > 1) {
                            warmRatios.add(mbps / baseline);
                        }
                    }
                    if (round > 1) {
                        warmBaselines.add(baseline);
                    }
                    for (int i = 0; round == 1 && i < PUSH; i++) {
                        Path last = dir.resolve("received-" + i).resolve(ID.tenantId()).resolve(ID.timelineId())
                                .resolve(XLogFileName.of(1, lastSegment, SEG));
                        while (!Files.exists(last)) {
                            Thread.sleep(5); // the downstream renames the last segment into place when complete
                        }
                        rows.add(row(round, "push " + i, mbps(bytes, System.nanoTime() - started), baseline));
                    }
                }
                System.out.printf(Locale.ROOT, "%nbench fanout: %d MiB of WAL, %d pull + %d push consumers at once"
                        + " (push in round 1 only), %d rounds%n", bytes >> 20, PULL, PUSH, ROUNDS);
                System.out.printf(Locale.ROOT, "%-6s %-12s %10s %8s%n", "round", "consumer", "MB/s", "ratio");
                rows.forEach(System.out::println);
                if (!warmRatios.isEmpty()) {
                    System.out.printf(Locale.ROOT, "warm rounds (2-%d): walsender median %.1f MB/s; pull ratio median"
                            + " %.2f (min %.2f, max %.2f)%n", ROUNDS, median(warmBaselines), median(warmRatios),
                            warmRatios.stream().mapToDouble(r -> r).min().orElseThrow(),
                            warmRatios.stream().mapToDouble(r -> r).max().orElseThrow());
                }
            } finally {
                for (WalkeeperNode d : downstreams) {
                    d.close();
                }
            }
        }
    }

    private static double median(List<Double> values) {
        double[] sorted = values.stream().mapToDouble(v -> v).sorted().toArray();
        int mid = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static double mbps(long bytes, long nanos) {
        return bytes / (nanos / 1e9) / 1e6;
    }

    private static String row(int round, String name, double mbps, double baseline) {
        return String.format(Locale.ROOT, "%-6d %-12s %10.1f %8.2f", round, name, mbps, mbps / baseline);
    }

    /** pg_receivewal from segment 1 to {@code end}: MB/s over {@code bytes}. */
    private double pull(String conninfo, String name, Lsn end, long bytes) throws Exception {
        long started = System.nanoTime();
        RunningProcess p = startPull(conninfo, name, end);
        assertEquals(0, p.waitFor(Duration.ofSeconds(600)), p.output());
        return mbps(bytes, System.nanoTime() - started);
    }

    /**
     * pg_receivewal starts at the end of the newest segment it already has: an empty .partial
     * first segment makes it stream from the start of the WAL.
     */
    private RunningProcess startPull(String conninfo, String name, Lsn end) throws Exception {
        // pg_receivewal stops once it received WAL beyond --endpos; a node never sends beyond its
        // commit LSN, so the stop point is the last byte before it.
        end = new Lsn(end.value() - 1);
        Path target = Files.createDirectories(dir.resolve(name));
        Files.write(target.resolve(XLogFileName.of(1, 1, SEG) + ".partial"), new byte[SEG]);
        return Processes.start(Command.of(dev.walkeeper.testkit.PgBinaries.require().bin("pg_receivewal").toString(),
                "-d", conninfo, "-D", target.toString(), "--no-loop", "--no-sync", "--endpos", end.toString()),
                dir.resolve(name + ".log"));
    }
}
