package dev.walkeeper.ops;

import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * {@code walkeeper node} and {@code walkeeper propose} in their own JVMs (the test classpath), so
 * a test can crash them with SIGKILL and start them again on the same data directory and port.
 */
final class WalkeeperProcesses {
    /** A node JVM with Artery and its cluster join takes a few seconds; a loaded CI machine more. */
    private static final Duration START_LIMIT = Duration.ofSeconds(60);

    private WalkeeperProcesses() {}

    /** A node on 127.0.0.1:{@code port}; returns once it listens. */
    static RunningProcess node(Path dataDir, int port, int nodeId, Path log) {
        return node(dataDir, port, nodeId, log, List.of());
    }

    /** ... with more JVM options, e.g. {@code -Dwalkeeper.trace.enabled=true}. */
    static RunningProcess node(Path dataDir, int port, int nodeId, Path log, List<String> jvmArgs) {
        return node(dataDir, port, nodeId, log, jvmArgs, List.of());
    }

    /** ... and more {@code node} options, e.g. {@code --config FILE} or the cluster flags. */
    static RunningProcess node(Path dataDir, int port, int nodeId, Path log, List<String> jvmArgs,
                               List<String> nodeArgs) {
        List<String> args = new ArrayList<>(List.of("node", "--listen", "127.0.0.1:" + port,
                "--data-dir", dataDir.toString(), "--node-id", Integer.toString(nodeId)));
        args.addAll(nodeArgs);
        RunningProcess node = Processes.start(java(jvmArgs, args.toArray(String[]::new)), log);
        try {
            awaitListening(node, nodeId, port);
        } catch (RuntimeException | AssertionError e) {
            node.close();
            throw e;
        }
        return node;
    }

    /** ... and more {@code node} options, given one by one. */
    static RunningProcess node(Path dataDir, int port, int nodeId, Path log, List<String> jvmArgs, String... extraArgs) {
        return node(dataDir, port, nodeId, log, jvmArgs, List.of(extraArgs));
    }

    /**
     * Until the node's own listener accepts connections. Its log line names its port: Artery's
     * "Remoting started ... listening on address" comes earlier and said nothing about the
     * node's socket (a proposer connecting then was refused). A connect confirms it.
     */
    private static void awaitListening(RunningProcess node, int nodeId, int port) {
        node.awaitLog("walkeeper node " + nodeId + " listening on 127.0.0.1:" + port, START_LIMIT);
        try {
            Await.until(START_LIMIT, () -> node.isAlive() && accepts(port),
                    () -> "node " + nodeId + " accepting on 127.0.0.1:" + port + ", alive " + node.isAlive()
                            + "\n" + Await.tail(node.output()));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for node " + nodeId, e);
        }
    }

    private static boolean accepts(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The bridge between the primary on 127.0.0.1:{@code primaryPort} (user postgres, trust) and
     * the nodes on 127.0.0.1:{@code nodePorts}; returns at once (it logs "elected in term" when
     * it has a quorum). {@code extraArgs} are more {@code propose} options.
     */
    static RunningProcess bridge(int primaryPort, List<Integer> nodePorts, TenantTimelineId id, Path log,
                                 String... extraArgs) {
        return bridge(List.of(), primaryPort, nodePorts, id, log, extraArgs);
    }

    /** ... with more JVM options. */
    static RunningProcess bridge(List<String> jvmArgs, int primaryPort, List<Integer> nodePorts, TenantTimelineId id,
                                 Path log, String... extraArgs) {
        List<String> args = new ArrayList<>(List.of("propose", "--primary", "127.0.0.1:" + primaryPort,
                "--nodes", nodePorts.stream().map(p -> "127.0.0.1:" + p).collect(Collectors.joining(",")),
                "--tenant-id", id.tenantId(), "--timeline-id", id.timelineId()));
        args.addAll(List.of(extraArgs));
        return Processes.start(java(jvmArgs, args.toArray(String[]::new)), log);
    }

    /** Runs {@code walkeeper args...} to its end (a command that does not run for long). */
    static ProcessResult run(String... args) {
        return Processes.run(java(List.of(), args));
    }

    private static Command java(List<String> jvmArgs, String... mainArgs) {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> command = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx256m", "-XX:+UseSerialGC", // as bin/walkeeper runs it
                // The program's own logging (INFO), not the test classpath's logback-test.xml: tests
                // wait for log lines such as the bridge's "elected in term".
                "-Dlogback.configurationFile=logback.xml"));
        // e.g. -Dwalkeeper.child-jvm-args=-XX:StartFlightRecording=filename=/tmp/jfr/ to profile a benchmark
        String extra = System.getProperty("walkeeper.child-jvm-args", "").trim();
        if (!extra.isEmpty()) {
            command.addAll(List.of(extra.split("\\s+")));
        }
        command.addAll(jvmArgs);
        command.addAll(List.of("-cp", classpath, "dev.walkeeper.ops.Main"));
        command.addAll(List.of(mainArgs));
        return Command.of(command);
    }
}
