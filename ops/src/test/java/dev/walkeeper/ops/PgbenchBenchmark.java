package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.trace.TraceReport;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.FreePort;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench pgbench}, run on demand (scripts/bench-pgbench.sh; excluded from the test run):
 * {@code pgbench -N} with 1 and 8 clients against a PostgreSQL 15 primary (a) without a standby,
 * (b) with a native streaming standby as its synchronous standby, (d) with PostgreSQL's own quorum
 * commit, {@code ANY 2 (r1, r2, r3)} over three {@code pg_receivewal --synchronous}, each on its
 * own slot (the native equivalent of a three-node quorum), (c) with the proposer bridge and three
 * walkeeper nodes, each in its own JVM, as its synchronous standby; run and printed in that order,
 * then the TPS ratios (c)/(d) (the target metric), (c)/(b), (d)/(b), (b)/(a). Every configuration
 * gets a fresh primary with the same settings but {@code synchronous_standby_names}, initialized
 * by the same {@code pgbench -i}; all data directories lie under the same temporary directory.
 * System properties: {@code pgbench.seconds} (30), {@code pgbench.clients} (1,8),
 * {@code pgbench.configs} (a,b,c,d: which configurations run; ratios need both of theirs),
 * {@code pgbench.trace} (false: true runs the bridge and nodes of (c) with walkeeper.trace and
 * prints p50/p99 per commit stage for each client count after the results),
 * {@code pgbench.warmup} (90: seconds of unmeasured {@code pgbench -N} before the measured runs,
 * for every configuration alike; 0 for none).
 */
@Tag("bench")
class PgbenchBenchmark {
    private static final int SECONDS = Integer.getInteger("pgbench.seconds", 30);
    /**
     * The commit path's JIT compilation takes the first ~20 s of a JVM's run (C2 used 10-13 % of a
     * core per walkeeper JVM then, measured per thread): without a warm-up the bench measured it,
     * not the steady state a node runs in. {@code pgbench -i} does not warm that path.
     */
    private static final int WARMUP_SECONDS = Integer.getInteger("pgbench.warmup", 90);
    private static final List<Integer> CLIENTS = Arrays.stream(System.getProperty("pgbench.clients", "1,8")
            .split(",")).map(String::trim).map(Integer::valueOf).toList();
    private static final Set<Config> CONFIGS = configs(System.getProperty("pgbench.configs", "a,b,c,d"));
    private static final int SCALE = Integer.getInteger("pgbench.scale", 10);
    private static final boolean TRACE = Boolean.getBoolean("pgbench.trace");
    private static final int CORES = Runtime.getRuntime().availableProcessors();
    private static final TenantTimelineId ID = new TenantTimelineId("99999999999999999999999999999999",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    private static final Duration SYNC_WAIT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    /** Standby logs outlive the test directory, to look into a failed or suspicious run. */
    private Path logs;

    /** With pgbench.trace: the trace files of (c)'s processes, and each run's time window. */
    private final List<Path> traceFiles = new ArrayList<>();
    private final Map<Integer, long[]> traceWindows = new LinkedHashMap<>();

    /** In the order they run and are printed. */
    private enum Config {
        NONE("a", "no standby", "", null),
        POSTGRES("b", "PostgreSQL standby", "pg_standby", "sync", "pg_standby"),
        QUORUM("d", "PostgreSQL quorum ANY 2 of 3", "ANY 2 (r1, r2, r3)", "quorum", "r1", "r2", "r3"),
        BRIDGE("c", "bridge + 3 nodes", "walkeeper_bridge", "sync", "walkeeper_bridge");

        /** Its letter in -Dpgbench.configs and the ratios. */
        final String letter;
        final String label;
        final String synchronousStandbyNames;
        /** The sync_state that pg_stat_replication shows for each of its standbys. */
        final String syncState;
        /** Its standbys' application names, sorted. */
        final List<String> standbys;

        Config(String letter, String description, String synchronousStandbyNames, String syncState,
               String... standbys) {
            this.letter = letter;
            this.label = "(" + letter + ") " + description;
            this.synchronousStandbyNames = synchronousStandbyNames;
            this.syncState = syncState;
            this.standbys = List.of(standbys);
        }
    }

    /** (c)/(d) first: the bridge against the native quorum it stands in for. */
    private static final List<Ratio> RATIOS = List.of(new Ratio(Config.BRIDGE, Config.QUORUM),
            new Ratio(Config.BRIDGE, Config.POSTGRES), new Ratio(Config.QUORUM, Config.POSTGRES),
            new Ratio(Config.POSTGRES, Config.NONE));

    private record Ratio(Config numerator, Config denominator) {
        String label() {
            return "(" + numerator.letter + ")/(" + denominator.letter + ")";
        }
    }

    private record Result(double tps, double latencyMs, double stddevMs, double p50Ms, double p99Ms) {}

    /** What the primary's commits wait for; closing it stops it. */
    private interface Standby extends AutoCloseable {
        /** The end of its logs, for failure messages. */
        String logTail();

        /** Error and warning lines its logs hold so far. */
        List<String> problems();

        @Override
        void close();
    }

    @Test
    void pgbench() throws Exception {
        logs = Files.createTempDirectory(Files.createDirectories(Path.of("target")), "bench-pgbench-")
                .toAbsolutePath();
        Map<Config, Map<Integer, Result>> results = new EnumMap<>(Config.class);
        Map<Config, List<String>> problems = new EnumMap<>(Config.class);
        for (Config config : CONFIGS) {
            results.put(config, measure(config, problems));
        }

        System.out.printf(Locale.ROOT, "%nbench pgbench: pgbench -N, scale %d, %d s per run, synchronous_commit = on,"
                + " %d cores%n", SCALE, SECONDS, CORES);
        System.out.printf(Locale.ROOT, "%-34s %7s %9s %11s %10s %8s %8s%n", "config", "clients", "tps",
                "lat avg ms", "stddev ms", "p50 ms", "p99 ms");
        results.forEach((config, byClients) -> byClients.forEach((clients, r) -> System.out.printf(Locale.ROOT,
                "%-34s %7d %9.1f %11.3f %10.3f %8.3f %8.3f%n", config.label, clients, r.tps(), r.latencyMs(),
                r.stddevMs(), r.p50Ms(), r.p99Ms())));
        List<Ratio> ratios = RATIOS.stream()
                .filter(r -> results.containsKey(r.numerator()) && results.containsKey(r.denominator())).toList();
        if (!ratios.isEmpty()) {
            System.out.printf(Locale.ROOT, "%-34s %7s", "tps ratios", "clients");
            ratios.forEach(r -> System.out.printf(Locale.ROOT, " %9s", r.label()));
            System.out.println();
            for (int clients : CLIENTS) {
                System.out.printf(Locale.ROOT, "%-34s %7d", "", clients);
                ratios.forEach(r -> System.out.printf(Locale.ROOT, " %9.2f", results.get(r.numerator()).get(clients)
                        .tps() / results.get(r.denominator()).get(clients).tps()));
                System.out.println();
            }
        }
        if (TRACE && results.containsKey(Config.BRIDGE)) {
            for (Map.Entry<Integer, long[]> window : traceWindows.entrySet()) {
                System.out.printf(Locale.ROOT, "%ncommit trace of %s with %d clients%n%s", Config.BRIDGE.label,
                        window.getKey(), TraceReport.ofFiles(traceFiles, window.getValue()[0], window.getValue()[1])
                                .table());
            }
        }
        problems.forEach((config, lines) -> {
            if (!lines.isEmpty()) {
                System.out.printf("%s: %d error/warning lines in the standby's logs during pgbench, e.g.%n  %s%n",
                        config.label, lines.size(), String.join("\n  ", lines.subList(0, Math.min(5, lines.size()))));
            }
        });
        System.out.println("standby logs: " + logs);
    }

    /** One configuration: a fresh primary, its standby, pgbench -i, then one run per client count. */
    private Map<Integer, Result> measure(Config config, Map<Config, List<String>> problems) throws Exception {
        PostgresServer.Builder primaryOptions = PostgresServer.builder().config("synchronous_commit = on");
        if (!config.synchronousStandbyNames.isEmpty()) {
            primaryOptions.synchronousStandbyNames(config.synchronousStandbyNames);
        }
        try (PostgresServer primary = primaryOptions.build().start();
             Standby standby = attach(config, primary)) {
            awaitSynchronous(primary, config, standby);
            List<String> startupProblems = standby.problems(); // e.g. the nodes' note that they trust loopback
            // Initialized through the synchronous standby: the same for all, and it warms the bridge's JVMs up.
            pgbench(primary, standby, config.label + " init", Duration.ofMinutes(15), "-i", "-q", "-s",
                    Integer.toString(SCALE));
            if (WARMUP_SECONDS > 0) {
                pgbench(primary, standby, config.label + " warm-up", Duration.ofSeconds(WARMUP_SECONDS + 120), "-N",
                        "-c", Integer.toString(CLIENTS.get(CLIENTS.size() - 1)), "-T", Integer.toString(WARMUP_SECONDS));
            }
            Map<Integer, Result> results = new LinkedHashMap<>();
            for (int clients : CLIENTS) {
                primary.psql("checkpoint"); // no run starts with the previous one's checkpoint due
                // nanoTime is CLOCK_MONOTONIC on Linux: the same clock as the traced JVMs'.
                long started = System.nanoTime();
                results.put(clients, run(primary, standby, config, clients));
                if (config == Config.BRIDGE) {
                    traceWindows.put(clients, new long[] {started, System.nanoTime()});
                }
                awaitSynchronous(primary, config, standby); // still: had it dropped out, commits would have hung
            }
            List<String> newProblems = new ArrayList<>(standby.problems());
            // Logs only grow; each startup line goes once (pg_receivewal's lines carry no time to tell repeats apart).
            startupProblems.forEach(newProblems::remove);
            problems.put(config, newProblems);
            return results;
        }
    }

    private Result run(PostgresServer primary, Standby standby, Config config, int clients) throws IOException {
        Path txLogs = Files.createDirectories(dir.resolve("pgbench-" + config.name() + "-" + clients));
        String out = pgbench(primary, standby, config.label + " with " + clients + " clients",
                Duration.ofSeconds(SECONDS + 120), "-N", "-c", Integer.toString(clients),
                "-j", Integer.toString(Math.min(clients, CORES)), "-T", Integer.toString(SECONDS), "-P", "5",
                "-l", "--log-prefix=" + txLogs.resolve("tx")).stdout();
        assertEquals(0, number(out, "number of failed transactions: (\\d+) .*"), out);
        assertTrue(number(out, "number of transactions actually processed: (\\d+)") > 0, out);
        long[] latencies = latenciesMicros(txLogs);
        return new Result(number(out, "tps = ([0-9.]+) \\(without initial connection time\\)"),
                number(out, "latency average = ([0-9.]+) ms"), number(out, "latency stddev = ([0-9.]+) ms"),
                percentileMs(latencies, 0.50), percentileMs(latencies, 0.99));
    }

    /** pgbench against the primary's database postgres; fails with the standby's logs if it fails or hangs. */
    private static ProcessResult pgbench(PostgresServer primary, Standby standby, String what, Duration limit,
                                         String... args) {
        List<String> argv = new ArrayList<>(List.of(primary.binaries().bin("pgbench").toString(),
                "-h", "127.0.0.1", "-p", Integer.toString(primary.port()), "-U", "postgres"));
        argv.addAll(List.of(args));
        argv.add("postgres");
        try {
            return Processes.run(Command.of(argv).timeout(limit)).requireSuccess("pgbench " + what);
        } catch (AssertionError e) { // failed, or commits hung beyond the limit (then pgbench was killed)
            throw new AssertionError("pgbench " + what + ": " + e.getMessage() + standby.logTail(), e);
        }
    }

    private Standby attach(Config config, PostgresServer primary) throws IOException {
        return switch (config) {
            case NONE -> new Standby() {
                @Override
                public String logTail() {
                    return "";
                }

                @Override
                public List<String> problems() {
                    return List.of();
                }

                @Override
                public void close() {}
            };
            case POSTGRES -> postgresStandby(primary);
            case QUORUM -> quorum(primary);
            case BRIDGE -> bridge(primary);
        };
    }

    /**
     * A streaming standby from a base backup, on its own slot as the bridge is. primary_conninfo is
     * set in postgresql.conf instead of by {@code pg_basebackup -R}, whose postgresql.auto.conf would
     * override it without the application_name that synchronous_standby_names names.
     */
    private Standby postgresStandby(PostgresServer primary) throws IOException {
        String name = Config.POSTGRES.standbys.get(0);
        Path backup = dir.resolve("standby-backup");
        Processes.run(Command.of(primary.binaries().bin("pg_basebackup").toString(), "-d",
                primary.conninfo("postgres"), "-D", backup.toString(), "-X", "stream", "-c", "fast",
                "-C", "-S", name, "--no-sync").timeout(Duration.ofSeconds(120))).requireSuccess("pg_basebackup");
        Files.writeString(backup.resolve("standby.signal"), "");
        PostgresServer standby = PostgresServer.builder().fromDataDirectory(backup)
                .config("primary_conninfo = 'host=127.0.0.1 port=" + primary.port() + " user=postgres"
                        + " application_name=" + name + "'")
                .config("primary_slot_name = '" + name + "'")
                .build().start();
        return new Standby() {
            @Override
            public String logTail() {
                return "\n--- standby's server log ---\n" + Await.tail(standby.serverLog());
            }

            @Override
            public List<String> problems() {
                return standby.serverLog().lines().filter(l -> l.matches(".*(ERROR|FATAL|PANIC):.*")).toList();
            }

            @Override
            public void close() {
                standby.close();
            }
        };
    }

    /**
     * One {@code pg_receivewal --synchronous} per quorum member, on its own slot (reserving WAL
     * from now, so it starts there) and in its own directory: it flushes what it receives at once
     * and reports the flush, as a standby's walreceiver does.
     */
    private Standby quorum(PostgresServer primary) throws IOException {
        List<RunningProcess> receivers = new ArrayList<>();
        try {
            for (String name : Config.QUORUM.standbys) {
                primary.psql("select pg_create_physical_replication_slot('" + name + "', true)");
                Path target = Files.createDirectories(dir.resolve("receivewal-" + name));
                receivers.add(Processes.start(Command.of(primary.binaries().bin("pg_receivewal").toString(),
                        "-d", primary.conninfo("postgres") + " application_name=" + name, "-D", target.toString(),
                        "-S", name, "--synchronous", "--no-loop", "--verbose"), logs.resolve(name + ".log")));
            }
        } catch (RuntimeException | AssertionError | IOException e) {
            receivers.forEach(RunningProcess::close);
            throw e;
        }
        return processes(receivers, l -> l.matches("pg_receivewal: (error|warning): .*"), () -> {
            // PostgreSQL 15's pg_receivewal exits cleanly (exit code 0) on SIGINT only; SIGTERM kills it.
            for (RunningProcess receiver : receivers) {
                if (receiver.isAlive()) {
                    Processes.run(Command.of("kill", "-INT", Long.toString(receiver.pid())))
                            .requireSuccess("kill -INT " + receiver.logFile().getFileName());
                }
            }
            for (RunningProcess receiver : receivers) {
                assertEquals(0, receiver.waitFor(Duration.ofSeconds(10)), receiver.logFile() + ": exit code");
            }
        });
    }

    /**
     * Three {@code walkeeper node} JVMs, then {@code walkeeper propose} between them and the primary.
     * Traced, each writes its trace file when it is stopped; a node's stamps carry its position in
     * the bridge's --nodes.
     */
    private Standby bridge(PostgresServer primary) {
        List<RunningProcess> processes = new ArrayList<>();
        try {
            List<Integer> ports = new ArrayList<>();
            for (int i = 1; i <= 3; i++) {
                ports.add(FreePort.find());
                processes.add(WalkeeperProcesses.node(dir.resolve("node" + i), ports.get(i - 1), i,
                        logs.resolve("node" + i + ".log"), trace("node" + i, i - 1)));
            }
            processes.add(WalkeeperProcesses.bridge(trace("bridge", 0), primary.port(), ports, ID,
                    logs.resolve("bridge.log")));
        } catch (RuntimeException | AssertionError e) {
            processes.forEach(RunningProcess::close);
            throw e;
        }
        // The test classpath's logback configuration logs WARN and above only.
        return processes(processes, l -> l.contains(" WARN ") || l.contains(" ERROR "), () -> {
            for (int i = processes.size() - 1; i >= 0; i--) { // the bridge first
                processes.get(i).stop(Duration.ofSeconds(10));
            }
        });
    }

    /** The JVM options that trace a process of (c) with pgbench.trace; none without. */
    private List<String> trace(String source, int node) {
        if (!TRACE) {
            return List.of();
        }
        Path file = logs.resolve("trace").resolve(source + ".trace");
        traceFiles.add(file);
        return List.of("-Dwalkeeper.trace.enabled=true", "-Dwalkeeper.trace.file=" + file,
                "-Dwalkeeper.trace.source=" + source, "-Dwalkeeper.trace.node=" + node);
    }

    /**
     * Standby processes: {@code problem} picks a log's error and warning lines; {@code stop} stops
     * them cleanly, and whatever still runs after it (e.g. after a failed stop) is killed.
     */
    private static Standby processes(List<RunningProcess> processes, Predicate<String> problem, Runnable stop) {
        return new Standby() {
            @Override
            public String logTail() {
                StringBuilder text = new StringBuilder();
                for (RunningProcess p : processes) {
                    text.append("\n--- ").append(p.logFile()).append(p.isAlive() ? "" : " (exited)").append(" ---\n")
                            .append(Await.tail(p.output()));
                }
                return text.toString();
            }

            @Override
            public List<String> problems() {
                return processes.stream().flatMap(p -> p.output().lines().filter(problem)
                        .map(l -> p.logFile().getFileName() + ": " + l)).toList();
            }

            @Override
            public void close() {
                try {
                    stop.run();
                } finally {
                    processes.forEach(RunningProcess::close);
                }
            }
        };
    }

    /**
     * Exactly the expected standbys are connected, streaming and synchronous (sync_state sync, or
     * quorum for (d); none for (a)), with synchronous_commit on: only then does every commit wait
     * for them.
     */
    private static void awaitSynchronous(PostgresServer primary, Config config, Standby standby)
            throws InterruptedException {
        assertEquals("on", primary.psql("show synchronous_commit"));
        assertEquals(config.synchronousStandbyNames, primary.psql("show synchronous_standby_names"));
        String expected = config.standbys.stream().map(name -> name + "|streaming|" + config.syncState)
                .collect(Collectors.joining("\n"));
        long deadline = System.nanoTime() + SYNC_WAIT.toNanos();
        String seen;
        while (!(seen = primary.psql("select application_name, state, sync_state from pg_stat_replication"
                + " order by application_name")).equals(expected)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(config.label + ": pg_stat_replication shows [" + seen + "], not ["
                        + expected + "] after " + SYNC_WAIT + standby.logTail());
            }
            Thread.sleep(200);
        }
    }

    /** The configurations named by their letters, e.g. "a,b,c,d"; in {@link Config}'s order. */
    private static Set<Config> configs(String letters) {
        Set<Config> configs = EnumSet.noneOf(Config.class);
        for (String letter : letters.split(",")) {
            configs.add(Arrays.stream(Config.values()).filter(c -> c.letter.equals(letter.trim())).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("pgbench.configs: no configuration '"
                            + letter.trim() + "' in '" + letters + "' (a, b, c, d)")));
        }
        return configs;
    }

    /** The latencies in pgbench's per-transaction logs (third field, µs), sorted. */
    private static long[] latenciesMicros(Path txLogs) throws IOException {
        long[] micros;
        try (Stream<Path> files = Files.list(txLogs)) {
            micros = files.flatMap(PgbenchBenchmark::lines).mapToLong(l -> Long.parseLong(l.split(" ")[2]))
                    .sorted().toArray();
        }
        assertTrue(micros.length > 0, "no transactions logged in " + txLogs);
        return micros;
    }

    private static double percentileMs(long[] sortedMicros, double fraction) {
        return sortedMicros[(int) Math.ceil(sortedMicros.length * fraction) - 1] / 1000.0;
    }

    private static Stream<String> lines(Path file) {
        try {
            return Files.readAllLines(file).stream();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static double number(String pgbenchOutput, String line) {
        Matcher m = Pattern.compile("^" + line + "$", Pattern.MULTILINE).matcher(pgbenchOutput);
        assertTrue(m.find(), "no line '" + line + "' in pgbench's output:\n" + pgbenchOutput);
        return Double.parseDouble(m.group(1));
    }
}
