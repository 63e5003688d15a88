package dev.walkeeper.ops.bench;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.walkeeper.actors.trace.TraceFile;
import dev.walkeeper.actors.trace.TraceRecorder;
import dev.walkeeper.actors.trace.TraceReport;
import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.wal.WalFormat;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code walkeeper bench}: benchmarks run on demand, each against a baseline measured in the same run. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks (run on demand).",
        subcommands = {BenchCommand.Ingest.class, BenchCommand.Trace.class})
public final class BenchCommand {

    /** {@code bench ingest}: WAL push throughput and append→flush latency vs. the raw disk. */
    @Command(name = "ingest", mixinStandardHelpOptions = true,
            description = "One node, fsync on: a proposer on loopback pushes WAL in appends of each size for the "
                    + "given time; compared with a plain write+fdatasync loop of the same size on the same filesystem.")
    static final class Ingest implements Callable<Integer> {
        /** Four generated records (header and payload) must fit in one append. */
        static final int MIN_APPEND_SIZE = 256;
        /** The load stamps two events per append: room for a million appends. */
        private static final int LOAD_TRACE_EVENTS = 2_000_000;

        @Spec
        CommandSpec spec;

        @Option(names = "--seconds", defaultValue = "10", description = "Duration of each measurement (default 10).")
        int seconds;

        @Option(names = "--sizes", split = ",", defaultValue = "8192,131072",
                description = "Append sizes in bytes (default 8192,131072).")
        List<Integer> sizes;

        @Option(names = "--window", defaultValue = "4194304",
                description = "Unacknowledged bytes the proposer keeps in flight in the throughput run (default 4 MiB); "
                        + "the latency run keeps one append in flight.")
        long window;

        @Option(names = "--dir", defaultValue = "./data/bench",
                description = "Scratch directory on the filesystem to measure (default ./data/bench).")
        Path dir;

        @Option(names = "--trace", description = "Trace every append through the node (walkeeper.trace) and print "
                + "p50/p99 per stage after the results; the trace files stay in <dir>/traces (see bench trace).")
        boolean trace;

        /** The traced runs' reports, printed after the results. */
        private final List<String> traces = new ArrayList<>();

        @Override
        public Integer call() throws Exception {
            if (sizes.stream().anyMatch(size -> size < MIN_APPEND_SIZE)) {
                throw new ParameterException(spec.commandLine(),
                        "--sizes: an append must be at least " + MIN_APPEND_SIZE + " bytes, got " + sizes);
            }
            PrintWriter out = spec.commandLine().getOut();
            Files.createDirectories(dir);
            out.printf("bench ingest: %d s per measurement, window %d KiB, dir %s%n", seconds, window / 1024,
                    dir.toAbsolutePath());
            out.println("disk: write+fdatasync loop into a zero-filled file (disk/sparse: a sparse one); ratios to disk;");
            out.println("node/throughput: window in flight; node/latency: one append in flight");
            out.printf("%-9s %-16s %10s %7s %10s %10s %12s%n", "append", "run", "MB/s", "ratio", "p50 ms", "p99 ms",
                    "p99/disk p50");
            PrintWriter err = spec.commandLine().getErr();
            for (int size : sizes) {
                long nanos = seconds * 1_000_000_000L;
                starting(err, "disk", size);
                DiskBaseline.Result disk = DiskBaseline.run(dir, size, nanos, true);
                starting(err, "disk/sparse", size);
                DiskBaseline.Result sparse = DiskBaseline.run(dir, size, nanos, false);
                starting(err, "node/throughput", size);
                IngestLoad.Result throughput = nodeRun(size, window, nanos);
                starting(err, "node/latency", size);
                IngestLoad.Result latency = nodeRun(size, size, nanos);
                double diskP50 = disk.latencies().percentileMillis(50);
                row(out, size, "disk", disk.mbPerSecond(), disk.mbPerSecond(), disk.latencies(), diskP50);
                row(out, size, "disk/sparse", sparse.mbPerSecond(), disk.mbPerSecond(), sparse.latencies(), diskP50);
                row(out, size, "node/throughput", throughput.mbPerSecond(), disk.mbPerSecond(), throughput.latencies(),
                        diskP50);
                row(out, size, "node/latency", latency.mbPerSecond(), disk.mbPerSecond(), latency.latencies(), diskP50);
                out.flush();
            }
            for (String report : traces) {
                out.println();
                out.print(report);
            }
            out.flush();
            return 0;
        }

        /** On stderr, so a long run is not silent and the results on stdout stay a plain table. */
        private void starting(PrintWriter err, String run, int size) {
            err.printf("bench ingest: %s, %s appends, %d s...%n", run, appendLabel(size), seconds);
            err.flush();
        }

        private static String appendLabel(int size) {
            return size % 1024 == 0 ? size / 1024 + " KiB" : size + " B";
        }

        private static void row(PrintWriter out, int size, String run, double mbPerSecond, double diskMbPerSecond,
                                LatencyHistogram latencies, double diskP50) {
            out.printf("%-9s %-16s %10.1f %7.2f %10.3f %10.3f %12.2f%n", appendLabel(size), run, mbPerSecond,
                    mbPerSecond / diskMbPerSecond, latencies.percentileMillis(50), latencies.percentileMillis(99),
                    latencies.percentileMillis(99) / diskP50);
        }

        /**
         * A fresh node in the scratch directory, one proposer pushing for the given time. Traced,
         * the node writes its trace file when it stops, and the load's goes next to it.
         */
        private IngestLoad.Result nodeRun(int size, long inFlight, long nanos) throws Exception {
            String name = "node-" + size + "-" + inFlight;
            Path nodeDir = dir.resolve(name);
            deleteRecursively(nodeDir); // left over by an interrupted run
            Path traceFile = dir.resolve("traces").resolve(name + ".trace");
            Files.deleteIfExists(traceFile); // a file from an earlier run must not pass for this one's
            TraceRecorder load = trace ? new TraceRecorder("load", LOAD_TRACE_EVENTS, 0) : null;
            IngestLoad.Result result;
            try (WalkeeperNode walkeeper = WalkeeperNode.start(nodeConfig(nodeDir, trace ? traceFile : null))) {
                WalFormat format = new WalFormat(150018, 7_000_000_000_000_000_001L, 16 * 1024 * 1024, 1);
                TenantTimelineId id = new TenantTimelineId("00000000000000000000000000000b0b",
                        String.format("%032x", size));
                result = IngestLoad.run(walkeeper.address(), id, format, size, inFlight, nanos, load);
            } finally {
                deleteRecursively(nodeDir);
            }
            if (load != null) {
                Path loadFile = traceFile.resolveSibling("load-" + size + "-" + inFlight + ".trace");
                TraceFile.write(load.snapshot(), loadFile);
                String run = inFlight == size ? "node/latency" : "node/throughput";
                traces.add(String.format("trace of %s, %d B appends (bench trace %s %s)%n%s", run, size, loadFile,
                        traceFile, TraceReport.ofFiles(List.of(loadFile, traceFile), Long.MIN_VALUE, Long.MAX_VALUE)
                                .table()));
            }
            return result;
        }

        /** {@code traceFile}: where the node writes its commit trace, or null for none. */
        private static Config nodeConfig(Path dataDir, Path traceFile) {
            Config config = ConfigFactory.empty()
                    .withValue("walkeeper.data-dir", ConfigValueFactory.fromAnyRef(dataDir.toString()))
                    .withValue("walkeeper.listen.port", ConfigValueFactory.fromAnyRef(0))
                    .withValue("pekko.loglevel", ConfigValueFactory.fromAnyRef("WARNING"));
            if (traceFile != null) {
                config = config.withValue("walkeeper.trace.enabled", ConfigValueFactory.fromAnyRef(true))
                        .withValue("walkeeper.trace.file", ConfigValueFactory.fromAnyRef(traceFile.toString()))
                        .withValue("walkeeper.trace.source", ConfigValueFactory.fromAnyRef("node"));
            }
            return ConfigFactory.load(config);
        }

        private static void deleteRecursively(Path dir) throws java.io.IOException {
            if (!Files.exists(dir)) {
                return;
            }
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }

    /** {@code bench trace}: the latency budget of trace files written earlier (walkeeper.trace.file). */
    @Command(name = "trace", mixinStandardHelpOptions = true,
            description = "Print p50/p99 per commit stage of the given trace files (one per process: load "
                    + "generator, bridge, nodes), matched by LSN.")
    static final class Trace implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(arity = "1..*", paramLabel = "FILE", description = "Trace files of one run.")
        List<Path> files;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            out.print(TraceReport.ofFiles(files, Long.MIN_VALUE, Long.MAX_VALUE).table());
            out.flush();
            return 0;
        }
    }
}
