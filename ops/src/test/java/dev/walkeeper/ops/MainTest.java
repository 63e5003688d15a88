package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import dev.walkeeper.actors.bridge.Bridge;
import dev.walkeeper.actors.bridge.NodeProposerConnection;
import dev.walkeeper.cluster.ClusterSettings;
import dev.walkeeper.cluster.NodeSettings;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.Processes;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

/** The {@code walkeeper} command line, run in-process with its output captured. */
// A validation that lets a bad flag through would start a node that runs until interrupted:
// fail the test instead of hanging the build.
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class MainTest {

    @TempDir
    Path dir;

    private static void assertContains(String text, String... parts) {
        for (String part : parts) {
            assertTrue(text.contains(part), "\"" + part + "\" not in:\n" + text);
        }
    }

    /** The node command as picocli builds it from {@code args}, without running it. */
    private static NodeCommand parseNode(String... args) {
        CommandLine.ParseResult parsed = new CommandLine(new Main()).parseArgs(args);
        return (NodeCommand) parsed.subcommand().commandSpec().userObject();
    }

    @Test
    void versionPrintsTheVersionAndTheCommitOfTheBuild() {
        CliRun run = CliRun.of("--version");
        assertEquals(0, run.exitCode(), run.err());
        Matcher version = Pattern.compile("walkeeper (\\S+) \\(commit (\\S+)\\)").matcher(run.out().strip());
        assertTrue(version.matches(), run.out());
        assertTrue(version.group(1).matches("\\d+\\.\\d+\\.\\d+.*"), "not the project's version: " + run.out());
        // The classes are those Maven just built from this checkout's HEAD; "unknown" where the
        // sources are no git checkout of their own (tests run in the module's directory).
        if (Files.exists(Path.of("..", ".git"))) {
            String head = Processes.run(Command.of("git", "rev-parse", "HEAD")).requireSuccess("git rev-parse").stdout();
            String commit = version.group(2).replaceFirst("-dirty$", "");
            assertTrue(commit.length() >= 10 && head.strip().startsWith(commit),
                    "commit " + version.group(2) + " is not HEAD " + head);
        } else {
            assertEquals("unknown", version.group(2));
        }
    }

    @Test
    void helpListsTheNodeCommand() {
        CliRun run = CliRun.of("--help");
        assertEquals(0, run.exitCode(), run.err());
        assertContains(run.out(), "Usage: walkeeper", "node", "Run a walkeeper node");
    }

    @Test
    void nodeHelpListsEveryFlag() {
        CliRun run = CliRun.of("node", "--help");
        assertEquals(0, run.exitCode(), run.err());
        assertContains(run.out(), "Usage: walkeeper node", "--listen", "--data-dir", "--node-id", "--config",
                "--system-id", "--cluster-listen", "--cluster-advertise", "--seed-nodes", "--metrics-listen");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "nonsense        | --listen must be HOST:PORT, got nonsense",
        ":5454           | --listen must be HOST:PORT, got :5454",
        "127.0.0.1:      | --listen must be HOST:PORT, got 127.0.0.1:",
        "127.0.0.1:70000 | --listen port must be 0..65535, got 70000",
        "127.0.0.1:http  | --listen port must be 0..65535, got http",
    })
    void aBadListenAddressIsAUsageErrorWithExitCode2(String listen, String message) {
        // Refused before anything starts: no node may come up on a half-understood address.
        CliRun run = CliRun.of("node", "--listen", listen, "--data-dir", dir.toString());
        assertEquals(2, run.exitCode(), run.out() + run.err());
        assertContains(run.err(), message);
        assertTrue(Files.notExists(dir.resolve("walkeeper.lock")), "the node must not have started");
    }

    @Test
    void aNonNumericNodeIdIsAUsageError() {
        CliRun run = CliRun.of("node", "--node-id", "seven");
        assertEquals(2, run.exitCode(), run.out() + run.err());
        assertContains(run.err(), "--node-id", "seven");
    }

    @Test
    void flagsOverrideTheConfigFileWhichOverridesTheDefaults() throws Exception {
        Path file = dir.resolve("node.conf");
        Files.writeString(file, """
                walkeeper {
                  node-id = 7
                  listen { host = "127.0.0.1", port = 6000 }
                  server-version = "15.4"
                }
                """);

        Config config = parseNode("node", "--config", file.toString(), "--listen", "127.0.0.1:6001").config();

        assertEquals(6001, config.getInt("walkeeper.listen.port"), "the flag beats the file");
        assertEquals(7, config.getLong("walkeeper.node-id"), "the file beats reference.conf");
        assertEquals("15.4", config.getString("walkeeper.server-version"), "the file beats reference.conf");
        assertEquals("./data", config.getString("walkeeper.data-dir"), "reference.conf fills the rest");
        // The merged configuration is one the node accepts.
        NodeSettings settings = NodeSettings.from(config);
        assertEquals(6001, settings.port());
        assertEquals(7, settings.nodeId());
    }

    @Test
    void everyFlagReachesTheConfiguration() {
        Config config = parseNode("node", "--listen", "localhost:0", "--data-dir", "/srv/wk", "--node-id", "3",
                "--system-id", "18446744073709551615").config();

        NodeSettings settings = NodeSettings.from(config);
        assertEquals("localhost", settings.host());
        assertEquals(0, settings.port());
        assertEquals(Path.of("/srv/wk"), settings.dataDir());
        assertEquals(3, settings.nodeId());
        assertEquals("18446744073709551615", Long.toUnsignedString(settings.connection().systemId()));
    }

    @Test
    void clusterFlagsOverrideTheConfigFile() throws Exception {
        Path file = dir.resolve("node.conf");
        Files.writeString(file, "walkeeper.cluster { listen = \"127.0.0.1:2551\", seed-nodes = [\"127.0.0.1:2551\"] }");

        ClusterSettings cluster = NodeSettings.from(parseNode("node", "--config", file.toString(),
                "--cluster-listen", "10.0.0.3:2552", "--seed-nodes", "10.0.0.1:2551,10.0.0.2:2551").config()).cluster();

        assertEquals("10.0.0.3", cluster.host());
        assertEquals(2552, cluster.port());
        assertEquals(List.of(new ClusterSettings.HostPort("10.0.0.1", 2551), new ClusterSettings.HostPort("10.0.0.2", 2551)),
                cluster.seedNodes());
        // Without the flags, the file's settings stand.
        ClusterSettings fromFile = NodeSettings.from(parseNode("node", "--config", file.toString()).config()).cluster();
        assertEquals(2551, fromFile.port());
        assertEquals(List.of(new ClusterSettings.HostPort("127.0.0.1", 2551)), fromFile.seedNodes());
    }

    @Test
    void metricsListenTurnsTheMetricsServerOn() {
        assertFalse(NodeSettings.from(parseNode("node").config()).servesMetrics());
        assertEquals(new ClusterSettings.HostPort("0.0.0.0", 9454),
                NodeSettings.from(parseNode("node", "--metrics-listen", "0.0.0.0:9454").config()).metricsListen());
    }

    @Test
    void clusterAdvertiseSplitsWhereMembersConnectFromWhereArteryListens() {
        ClusterSettings cluster = NodeSettings.from(parseNode("node", "--cluster-listen", "127.0.0.1:2552",
                "--cluster-advertise", "127.0.0.1:3552").config()).cluster();

        assertEquals(new ClusterSettings.HostPort("127.0.0.1", 2552), new ClusterSettings.HostPort(cluster.host(),
                cluster.port()));
        assertEquals(new ClusterSettings.HostPort("127.0.0.1", 3552), cluster.advertise());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--cluster-listen | nonsense        | --cluster-listen must be HOST:PORT",
        "--cluster-listen | 127.0.0.1:70000 | --cluster-listen must be HOST:PORT",
        "--seed-nodes     | 127.0.0.1:0     | --seed-nodes must be HOST:PORT with a port in 1..65535",
        "--cluster-advertise | 127.0.0.1:0  | --cluster-advertise must be HOST:PORT with a port in 1..65535",
        "--seed-nodes     | a:1,b           | --seed-nodes must be HOST:PORT",
        "--metrics-listen | 127.0.0.1       | --metrics-listen must be HOST:PORT",
    })
    void aBadClusterAddressIsAUsageErrorWithExitCode2(String flag, String value, String message) {
        CliRun run = CliRun.of("node", flag, value, "--data-dir", dir.toString());
        assertEquals(2, run.exitCode(), run.out() + run.err());
        assertContains(run.err(), message);
        assertTrue(Files.notExists(dir.resolve("walkeeper.lock")), "the node must not have started");
    }

    @Test
    void aReceiveNodeIsNoClusterMemberAndRefusesTheClusterFlags() {
        assertFalse(NodeSettings.from(parseNode("receive").config()).cluster().enabled());
        assertTrue(NodeSettings.from(parseNode("node").config()).cluster().enabled());

        CliRun run = CliRun.of("receive", "--seed-nodes", "127.0.0.1:2551", "--data-dir", dir.toString());
        assertEquals(2, run.exitCode(), run.out() + run.err());
        assertContains(run.err(), "no cluster member");
    }

    @Test
    void withoutFlagsOrFileTheDefaultsApply() {
        NodeSettings settings = NodeSettings.from(parseNode("node").config());
        assertEquals("127.0.0.1", settings.host());
        assertEquals(5454, settings.port());
        assertEquals(1, settings.nodeId());
    }

    @Test
    void configReportsABadListenFlagAsAParameterException() {
        // call() relies on this: picocli turns a ParameterException from the command into exit code 2.
        NodeCommand node = parseNode("node", "--listen", "nonsense");
        assertThrows(CommandLine.ParameterException.class, node::config);
    }

    @Test
    void proposeFlagsReachTheBridgeSettings() {
        CommandLine.ParseResult parsed = new CommandLine(new Main()).parseArgs("propose", "--primary", "127.0.0.1:5432",
                "--primary-user", "repl", "--nodes", "127.0.0.1:5454,127.0.0.1:5455,127.0.0.1:5456",
                "--tenant-id", "77777777777777777777777777777777", "--timeline-id", "88888888888888888888888888888888");
        var settings = ((ProposeCommand) parsed.subcommand().commandSpec().userObject()).settings();
        assertEquals(5432, settings.primaryAddress().getPort());
        assertEquals("repl", settings.primary().user());
        assertEquals("walkeeper_bridge", settings.primary().slotName());
        assertEquals("walkeeper_bridge", settings.primary().applicationName());
        assertEquals(List.of(5454, 5455, 5456), settings.nodes().stream().map(a -> a.getPort()).toList());
        assertEquals("88888888888888888888888888888888", settings.node().timeline().timelineId());
        assertEquals(Bridge.DEFAULT_BUFFER_BYTES, settings.bufferBytes());
        assertEquals(Duration.ofSeconds(60), settings.primary().handshakeTimeout(), "room for the election");
    }

    @Test
    void proposePasswordsComeFromTheEnvironment() {
        CommandLine.ParseResult parsed = new CommandLine(new Main()).parseArgs("propose", "--primary", "127.0.0.1:5432",
                "--nodes", "127.0.0.1:5454", "--tenant-id", "77777777777777777777777777777777",
                "--timeline-id", "88888888888888888888888888888888");
        ProposeCommand propose = (ProposeCommand) parsed.subcommand().commandSpec().userObject();
        var settings = propose.settings(Map.of("PGPASSWORD", "primary secret", "WALKEEPER_PASSWORD", "node secret"));
        assertEquals("primary secret", settings.primary().password());
        assertEquals("node secret", settings.node().password());
        var trusted = propose.settings(Map.of());
        assertNull(trusted.primary().password());
        assertNull(trusted.node().password());
    }

    @Test
    void proposeBufferSizeTakesPostgresUnits() {
        assertEquals(16L << 20, proposeSettings("--buffer-size", "16MB").bufferBytes());
        assertEquals(2L << 30, proposeSettings("--buffer-size", "2GB").bufferBytes());
        assertEquals(512L << 10, proposeSettings("--buffer-size", "512kB").bufferBytes());
        assertEquals(100_000L, proposeSettings("--buffer-size", "100000").bufferBytes());
        CliRun run = CliRun.of("propose", "--primary", "127.0.0.1:5432", "--nodes", "127.0.0.1:5454",
                "--tenant-id", "77777777777777777777777777777777", "--timeline-id", "88888888888888888888888888888888",
                "--buffer-size", "lots");
        assertEquals(2, run.exitCode(), run.err());
        assertContains(run.err(), "not a size");
    }

    @Test
    void proposeNodeReplyTimeoutTakesDurations() {
        assertEquals(NodeProposerConnection.DEFAULT_REPLY_TIMEOUT, proposeSettings().node().replyTimeout());
        assertEquals(Duration.ofMillis(2500), proposeSettings("--node-reply-timeout", "2500ms").node().replyTimeout());
        assertEquals(Duration.ofSeconds(30), proposeSettings("--node-reply-timeout", "30s").node().replyTimeout());
        CliRun run = CliRun.of("propose", "--primary", "127.0.0.1:5432", "--nodes", "127.0.0.1:5454",
                "--tenant-id", "77777777777777777777777777777777", "--timeline-id", "88888888888888888888888888888888",
                "--node-reply-timeout", "0s");
        assertEquals(2, run.exitCode(), run.err());
        assertContains(run.err(), "not positive");
    }

    @Test
    void benchIngestRefusesAppendsTooSmallToHoldRecords() {
        CliRun run = CliRun.of("bench", "ingest", "--sizes", "8192,100");
        assertEquals(2, run.exitCode(), run.err());
        assertContains(run.err(), "at least 256 bytes");
    }

    private static Bridge.Settings proposeSettings(String... extra) {
        List<String> args = new ArrayList<>(List.of("propose", "--primary", "127.0.0.1:5432", "--nodes",
                "127.0.0.1:5454", "--tenant-id", "77777777777777777777777777777777",
                "--timeline-id", "88888888888888888888888888888888"));
        args.addAll(List.of(extra));
        CommandLine.ParseResult parsed = new CommandLine(new Main()).parseArgs(args.toArray(String[]::new));
        return ((ProposeCommand) parsed.subcommand().commandSpec().userObject()).settings();
    }

    @Test
    void timelineCopyUsageErrorsExitWithTwo() {
        String timeline = "77777777777777777777777777777777/88888888888888888888888888888888";
        CliRun missingNode = CliRun.of("timeline", "copy", "--timeline", timeline);
        assertEquals(2, missingNode.exitCode());
        assertContains(missingNode.err(), "--node");
        CliRun badTimeline = CliRun.of("timeline", "copy", "--node", "127.0.0.1:5454", "--timeline", "7777/8888");
        assertEquals(2, badTimeline.exitCode());
        assertContains(badTimeline.err(), "--timeline", "32 hex digits");
        CliRun badFrom = CliRun.of("timeline", "copy", "--node", "127.0.0.1:5454", "--timeline", timeline, "--from", "nowhere");
        assertEquals(2, badFrom.exitCode());
        assertContains(badFrom.err(), "--from must be HOST:PORT");
        assertContains(CliRun.of("timeline", "copy", "--help").out(), "--from", "--timeline");
    }

    @Test
    void proposeWithABadTenantIdIsAUsageError() {
        CliRun run = CliRun.of("propose", "--primary", "127.0.0.1:5432", "--nodes", "127.0.0.1:5454",
                "--tenant-id", "xyz", "--timeline-id", "88888888888888888888888888888888");
        assertEquals(2, run.exitCode(), run.err());
        assertContains(run.err(), "tenant_id");
    }
}
