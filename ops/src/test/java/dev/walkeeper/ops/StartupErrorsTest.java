package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.testkit.ProcessResult;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code walkeeper node} that cannot start: one line on stderr naming the file, setting or
 * address and what to do, no stack trace, and an exit code of its own for each reason.
 */
// A refusal that lets the node start would run it until interrupted: fail instead of hanging.
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class StartupErrorsTest {

    @TempDir
    Path dir;

    private Path dataDir() {
        return dir.resolve("data");
    }

    /** {@code walkeeper node} on any free loopback port, with {@code args}. */
    private static CliRun node(String... args) {
        return CliRun.of(Stream.concat(Stream.of("node", "--listen", "127.0.0.1:0"), Arrays.stream(args))
                .toArray(String[]::new));
    }

    /** stderr is one "walkeeper: ..." line with every part, and no stack trace. */
    private static void assertOneLine(String err, String... parts) {
        String line = err.strip();
        assertFalse(line.contains("\n"), "more than one line on stderr:\n" + err);
        assertTrue(line.startsWith("walkeeper: "), line);
        assertFalse(line.contains("\tat ") || line.contains("Exception"), "a stack trace on stderr:\n" + err);
        for (String part : parts) {
            assertTrue(line.contains(part), "\"" + part + "\" not in: " + line);
        }
    }

    private static void assertRun(CliRun run, int exitCode, String... parts) {
        assertEquals(exitCode, run.exitCode(), "stdout:\n" + run.out() + "\nstderr:\n" + run.err());
        assertOneLine(run.err(), parts);
        assertFalse(run.out().contains("listening"), run.out());
    }

    private Path file(String name, String content) throws Exception {
        return Files.writeString(dir.resolve(name), content);
    }

    @Test
    void aMissingConfigFileIsExit66NamingTheFile() {
        Path missing = dir.resolve("missing.conf");
        assertRun(node("--config", missing.toString(), "--data-dir", dataDir().toString()), 66,
                missing.toString(), "no such file", "--config");
        assertTrue(Files.notExists(dataDir()), "the node must not have started");
    }

    @Test
    void aConfigFileThatCannotBeReadIsExit66() {
        // A directory: unreadable as a file even for root, who reads files without permission.
        assertRun(node("--config", dir.toString(), "--data-dir", dataDir().toString()), 66,
                dir.toString(), "is a directory");
    }

    @Test
    void aHoconSyntaxErrorIsExit65NamingTheFileAndLine() throws Exception {
        Path conf = file("broken.conf", """
                walkeeper {
                  node-id = 2
                  listen { host = "127.0.0.1"
                """);
        assertRun(node("--config", conf.toString(), "--data-dir", dataDir().toString()), 65,
                "syntax error in config file " + conf, "line 4");
    }

    @Test
    void aSettingOfTheWrongTypeIsExit78NamingTheSettingAndTheFile() throws Exception {
        Path conf = file("type.conf", "walkeeper.node-id = seven\n");
        assertRun(node("--config", conf.toString(), "--data-dir", dataDir().toString()), 78,
                "node-id", "STRING", conf + ": 1");
        assertTrue(Files.notExists(dataDir()), "the node must not have started");
    }

    @Test
    void aSettingWithABadValueIsExit78NamingTheSetting() throws Exception {
        Path conf = file("segment.conf", "walkeeper.wal-segment-size = 3MiB\n");
        assertRun(node("--config", conf.toString(), "--data-dir", dataDir().toString()), 78,
                "walkeeper.wal-segment-size", "power of two");
    }

    @Test
    void anUnresolvedSubstitutionIsExit78() throws Exception {
        Path conf = file("substitution.conf", "walkeeper.node-id = ${no-such-setting}\n");
        assertRun(node("--config", conf.toString(), "--data-dir", dataDir().toString()), 78,
                "no-such-setting", conf.toString());
    }

    @Test
    void aDataDirectoryThatCannotBeCreatedIsExit73NamingThePathAndTheOsReason() throws Exception {
        // Under a regular file: not creatable even for root, whom permissions do not stop.
        Path dataDir = file("plain-file", "").resolve("data");
        assertRun(node("--data-dir", dataDir.toString()), 73, dataDir.toString(), "Not a directory",
                "--data-dir");
    }

    @Test
    void aDataDirectoryInUseByAnotherNodeIsExit75NamingThePath() throws Exception {
        Path dataDir = dataDir();
        try (WalkeeperNode first = WalkeeperNode.start(ConfigFactory.load(ConfigFactory.parseString(
                "walkeeper { listen { host = \"127.0.0.1\", port = 0 }, data-dir = \""
                        + dataDir.toString().replace("\\", "/") + "\" }")))) {
            assertRun(node("--data-dir", dataDir.toString()), 75, dataDir.toAbsolutePath().normalize().toString(),
                    "in use by another walkeeper node", "--data-dir");
        }
    }

    @Test
    void aListenAddressInUseIsExit69NamingTheAddress() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            String address = "127.0.0.1:" + taken.getLocalPort();
            CliRun run = CliRun.of("node", "--listen", address, "--data-dir", dataDir().toString());
            assertRun(run, 69, "cannot listen on " + address, "--listen");
        }
    }

    @Test
    void aClusterAddressInUseIsExit69NamingTheAddressAndTheFlag() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            String address = "127.0.0.1:" + taken.getLocalPort();
            assertRun(node("--cluster-listen", address, "--data-dir", dataDir().toString()), 69,
                    "cannot listen for the cluster on " + address, "--cluster-listen");
        }
    }

    @Test
    void aPostgresqlJournalThatCannotBeReachedIsExit74NamingTheUrl() throws Exception {
        int closedPort;
        try (ServerSocket probe = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            closedPort = probe.getLocalPort();
        }
        String url = "jdbc:postgresql://127.0.0.1:" + closedPort + "/walkeeper";
        Path conf = file("jdbc.conf", """
                pekko.persistence.journal.plugin = "walkeeper.persistence.jdbc-journal"
                walkeeper.persistence.jdbc.url = "%s"
                """.formatted(url));
        assertRun(node("--config", conf.toString(), "--data-dir", dataDir().toString()), 74,
                "cannot prepare the PostgreSQL journal at " + url, "walkeeper.persistence.jdbc.url");
    }

    @Test
    void listeningBeyondLoopbackWithoutUsersIsExit77NamingTheSetting() {
        CliRun run = CliRun.of("node", "--listen", "0.0.0.0:0", "--data-dir", dataDir().toString());
        assertRun(run, 77, "0.0.0.0", "walkeeper.auth.users", "--listen 127.0.0.1");
        assertTrue(Files.notExists(dataDir()), "nothing created before the refusal");
    }

    @Test
    void theProgramItselfExitsWithTheCodeAndPrintsOnlyTheLine() throws Exception {
        // Its own JVM, its own logback.xml (INFO to stderr): System.exit and what an operator sees.
        Path conf = file("broken.conf", "walkeeper { node-id = 2\n");
        ProcessResult result = WalkeeperProcesses.run("node", "--config", conf.toString(),
                "--data-dir", dataDir().toString());
        assertEquals(65, result.exitCode(), "stdout:\n" + result.stdout() + "\nstderr:\n" + result.stderr());
        assertOneLine(result.stderr(), "syntax error in config file " + conf, "line 2");
    }
}
