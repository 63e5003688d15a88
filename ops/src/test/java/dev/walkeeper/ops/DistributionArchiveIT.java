package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The distribution archive as {@code mvn package} made it (failsafe runs this after package, the
 * path in {@code walkeeper.archive}): unpacked, its launcher and example configuration run a node.
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class DistributionArchiveIT {

    @TempDir
    static Path unpacked;

    private static Path home;

    @BeforeAll
    static void unpack() throws IOException {
        Path archive = Path.of(System.getProperty("walkeeper.archive"));
        Processes.run(Command.of("tar", "xzf", archive.toString(), "-C", unpacked.toString()))
                .requireSuccess("unpacking " + archive);
        try (Stream<Path> top = Files.list(unpacked)) {
            List<Path> dirs = top.toList();
            assertEquals(1, dirs.size(), "one top directory: " + dirs);
            home = dirs.get(0);
        }
    }

    @Test
    void itHoldsTheLauncherEveryLibraryTheExampleConfigurationAndTheUnit() throws IOException {
        assertEquals("walkeeper-" + new Version().getVersion()[0].split(" ")[1], home.getFileName().toString());
        assertTrue(Files.isExecutable(home.resolve("bin/walkeeper")), "bin/walkeeper executable");
        assertTrue(Files.isRegularFile(home.resolve("conf/walkeeper.conf")));
        assertTrue(Files.isRegularFile(home.resolve("systemd/walkeeper.service")));
        assertTrue(Files.isRegularFile(home.resolve("README.md")));
        // The program and exactly the runtime dependencies `mvn package` copied next to it.
        Path target = Path.of("target");
        Set<String> expected;
        try (Stream<Path> lib = Files.list(target.resolve("lib"))) {
            expected = Stream.concat(lib.map(jar -> jar.getFileName().toString()), Stream.of("walkeeper.jar"))
                    .collect(Collectors.toSet());
        }
        try (Stream<Path> lib = Files.list(home.resolve("lib"))) {
            assertEquals(expected, lib.map(jar -> jar.getFileName().toString()).collect(Collectors.toSet()));
        }
    }

    @Test
    void versionNamesTheVersionAndCommitOfTheBuild() {
        ProcessResult run = Processes.run(Command.of(home.resolve("bin/walkeeper").toString(), "--version"))
                .requireSuccess("walkeeper --version");
        // As the classes of this build say in-process: the archive holds this build.
        // (MainTest checks that this names HEAD.)
        assertEquals(new Version().getVersion()[0], run.stdout().strip());
    }

    @Test
    void aNodeRunsOnTheExampleConfigurationUntilSigterm() throws IOException {
        // The example as it is, but for its data directory and ports: this machine's, not a server's.
        String example = Files.readString(home.resolve("conf/walkeeper.conf"));
        Path data = unpacked.resolve("data");
        String config = replaceOnce(replaceOnce(replaceOnce(example,
                "data-dir = \"/var/lib/walkeeper\"", "data-dir = \"" + data + "\""),
                "port = 5454", "port = 0"),
                "listen = \"127.0.0.1:2551\"", "listen = \"127.0.0.1:0\"");
        Path configFile = unpacked.resolve("walkeeper.conf");
        Files.writeString(configFile, config);

        try (RunningProcess node = Processes.start(Command.of(home.resolve("bin/walkeeper").toString(), "node",
                "--config", configFile.toString()), unpacked.resolve("node.log"))) {
            node.awaitLog("walkeeper node 1 listening on 127.0.0.1:", Duration.ofSeconds(60));
            assertTrue(Files.exists(data.resolve("walkeeper.lock")), "the node keeps its data in the configured directory");
            // 143: the JVM's status when SIGTERM ended it (systemd/walkeeper.service counts it a success).
            int exit = node.stop(Duration.ofSeconds(30));
            assertTrue(exit == 143 || exit == 0, "exit code " + exit + "\n" + node.output());
        }
    }

    private static String replaceOnce(String text, String setting, String replacement) {
        assertEquals(1, text.split(Pattern.quote(setting), -1).length - 1, "one \"" + setting + "\" in the example");
        return text.replace(setting, replacement);
    }
}
