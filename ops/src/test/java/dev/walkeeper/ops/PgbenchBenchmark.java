package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench pgbench}, run on demand (scripts/bench-pgbench.sh; excluded from the test run):
 * {@code pgbench -N} with 1 and 8 clients against a PostgreSQL 15 primary (a) without a standby,
 * (b) with a native streaming standby as its synchronous standby, (c) with the proposer bridge and
 * three walkeeper nodes, each in its own JVM, as its synchronous standby. Every configuration gets
 * a fresh primary with the same settings but {@code synchronous_standby_names}, initialized by the
 * same {@code pgbench -i}; all data directories lie under the same temporary directory.
 */
@Tag("bench")
class PgbenchBenchmark {
    private static final int SECONDS = Integer.getInteger("pgbench.seconds", 30);
    private static final List<Integer> CLIENTS = Arrays.stream(System.getProperty("pgbench.clients", "1,8")
            .split(",")).map(String::trim).map(Integer::valueOf).toList();
    private static final int SCALE = Integer.getInteger("pgbench.scale", 10);
    private static final int CORES = Runtime.getRuntime().availableProcessors();
    private static final TenantTimelineId ID = new TenantTimelineId("99999999999999999999999999999999",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    private static final Duration SYNC_WAIT = Duration.ofSeconds(120);

    @TempDir
    Path dir;

    /** Standby logs outlive the test directory, to look into a failed or suspicious run. */
    private Path logs;

    private enum Config {
        NONE("(a) no standby", null),
        POSTGRES("(b) PostgreSQL standby", "pg_standby"),
        BRIDGE("(c) bridge + 3 nodes", "walkeeper_bridge");

        final String label;
        /** The application name in synchronous_standby_names, or null for none. */
        final String standbyName;

        Config(String label, String standbyName) {
            this.label = label;
            this.standbyName = standbyName;
        }
    }

    private record Result(double tps, double latencyMs, double stddevMs, double p99Ms) {}

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
        for (Config config : Config.values()) {
            results.put(config, measure(config, problems));
        }

        System.out.printf(Locale.ROOT, "%nbench pgbench: pgbench -N, scale %d, %d s per run, synchronous_commit = on,"
                + " %d cores%n", SCALE, SECONDS, CORES);
        System.out.printf(Locale.ROOT, "%-24s %7s %9s %11s %10s %8s%n", "config", "clients", "tps", "lat avg ms",
                "stddev ms", "p99 ms");
        results.forEach((config, byClients) -> byClients.forEach((clients, r) -> System.out.printf(Locale.ROOT,
                "%-24s %7d %9.1f %11.3f %10.3f %8.3f%n", config.label, clients, r.tps(), r.latencyMs(),
                r.stddevMs(), r.p99Ms())));
        System.out.printf(Locale.ROOT, "%-24s %7s %9s %9s %9s%n", "tps ratios", "clients", "(c)/(b)", "(b)/(a)",
                "(c)/(a)");
        for (int clients : CLIENTS) {
            double a = results.get(Config.NONE).get(clients).tps();
            double b = results.get(Config.POSTGRES).get(clients).tps();
            double c = results.get(Config.BRIDGE).get(clients).tps();
            System.out.printf(Locale.ROOT, "%-24s %7d %9.2f %9.2f %9.2f%n", "", clients, c / b, b / a, c / a);
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
        if (config.standbyName != null) {
            primaryOptions.synchronousStandbyNames(config.standbyName);
        }
        try (PostgresServer primary = primaryOptions.build().start();
             Standby standby = attach(config, primary)) {
            awaitSynchronous(primary, config, standby);
            List<String> startupProblems = standby.problems(); // e.g. the nodes' note that they trust loopback
            // Initialized through the synchronous standby: the same for all, and it warms the bridge's JVMs up.
            pgbench(primary, standby, config.label + " init", Duration.ofMinutes(15), "-i", "-q", "-s",
                    Integer.toString(SCALE));
            Map<Integer, Result> results = new LinkedHashMap<>();
            for (int clients : CLIENTS) {
                primary.psql("checkpoint"); // no run starts with the previous one's checkpoint due
                results.put(clients, run(primary, standby, config, clients));
                awaitSynchronous(primary, config, standby); // still: had it dropped out, commits would have hung
            }
            List<String> newProblems = new ArrayList<>(standby.problems());
            newProblems.removeAll(startupProblems); // log lines carry their time, so they are distinct
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
        return new Result(number(out, "tps = ([0-9.]+) \\(without initial connection time\\)"),
                number(out, "latency average = ([0-9.]+) ms"), number(out, "latency stddev = ([0-9.]+) ms"),
                p99Ms(txLogs));
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
            case BRIDGE -> bridge(primary);
        };
    }

    /**
     * A streaming standby from a base backup, on its own slot as the bridge is. primary_conninfo is
     * set in postgresql.conf instead of by {@code pg_basebackup -R}, whose postgresql.auto.conf would
     * override it without the application_name that synchronous_standby_names names.
     */
    private Standby postgresStandby(PostgresServer primary) throws IOException {
        String name = Config.POSTGRES.standbyName;
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

    /** Three {@code walkeeper node} JVMs, then {@code walkeeper propose} between them and the primary. */
    private Standby bridge(PostgresServer primary) {
        List<RunningProcess> processes = new ArrayList<>();
        try {
            List<Integer> ports = new ArrayList<>();
            for (int i = 1; i <= 3; i++) {
                ports.add(FreePort.find());
                processes.add(WalkeeperProcesses.node(dir.resolve("node" + i), ports.get(i - 1), i,
                        logs.resolve("node" + i + ".log")));
            }
            processes.add(WalkeeperProcesses.bridge(primary.port(), ports, ID, logs.resolve("bridge.log")));
        } catch (RuntimeException | AssertionError e) {
            processes.forEach(RunningProcess::close);
            throw e;
        }
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
                // The test classpath's logback configuration logs WARN and above only.
                return processes.stream().flatMap(p -> p.output().lines()
                        .filter(l -> l.contains(" WARN ") || l.contains(" ERROR "))
                        .map(l -> p.logFile().getFileName() + ": " + l)).toList();
            }

            @Override
            public void close() {
                for (int i = processes.size() - 1; i >= 0; i--) { // the bridge first
                    processes.get(i).stop(Duration.ofSeconds(10));
                }
            }
        };
    }

    /**
     * Exactly the expected standby is connected, streaming and synchronous (none for (a)), with
     * synchronous_commit on: only then does every commit wait for it.
     */
    private static void awaitSynchronous(PostgresServer primary, Config config, Standby standby)
            throws InterruptedException {
        assertEquals("on", primary.psql("show synchronous_commit"));
        assertEquals(config.standbyName == null ? "" : config.standbyName,
                primary.psql("show synchronous_standby_names"));
        String expected = config.standbyName == null ? "" : config.standbyName + "|streaming|sync";
        long deadline = System.nanoTime() + SYNC_WAIT.toNanos();
        String seen;
        while (!(seen = primary.psql("select application_name, state, sync_state from pg_stat_replication"))
                .equals(expected)) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(config.label + ": pg_stat_replication shows [" + seen + "], not ["
                        + expected + "] after " + SYNC_WAIT + standby.logTail());
            }
            Thread.sleep(200);
        }
    }

    /** The 99th percentile of the latencies in pgbench's per-transaction logs (third field, µs). */
    private static double p99Ms(Path txLogs) throws IOException {
        long[] micros;
        try (Stream<Path> files = Files.list(txLogs)) {
            micros = files.flatMap(PgbenchBenchmark::lines).mapToLong(l -> Long.parseLong(l.split(" ")[2]))
                    .sorted().toArray();
        }
        assertTrue(micros.length > 0, "no transactions logged in " + txLogs);
        return micros[(int) Math.ceil(micros.length * 0.99) - 1] / 1000.0;
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
