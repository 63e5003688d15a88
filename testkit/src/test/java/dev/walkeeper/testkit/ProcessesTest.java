package dev.walkeeper.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcessesTest {

    @Test
    void capturesLargeOutputOnBothStreamsWithoutDeadlock() {
        ProcessResult result = Processes.run(Command.of("sh", "-c",
                "head -c 3000000 /dev/zero | tr '\\0' a; head -c 2000000 /dev/zero | tr '\\0' b >&2; exit 3"));
        assertEquals(3, result.exitCode());
        assertEquals(3_000_000, result.stdout().length());
        assertEquals(2_000_000, result.stderr().length());
        AssertionError failure = assertThrows(AssertionError.class, () -> result.requireSuccess("sh"));
        assertTrue(failure.getMessage().contains("exit code 3"), failure.getMessage().substring(0, 100));
    }

    @Test
    void passesStdinAndEnvironment() {
        ProcessResult result = Processes.run(Command.of("sh", "-c", "cat; echo \"$WALKEEPER_TEST\"")
                .stdin("hello\n").env("WALKEEPER_TEST", "env works"));
        assertEquals("hello\nenv works\n", result.requireSuccess("sh").stdout());
    }

    @Test
    void timeoutKillsTheWholeProcessTree() {
        long started = System.nanoTime();
        ProcessTimeoutException timeout = assertThrows(ProcessTimeoutException.class,
                () -> Processes.run(Command.of("sh", "-c", "sleep 30 & echo $!; wait")
                        .timeout(Duration.ofMillis(500))));
        assertTrue(Duration.ofNanos(System.nanoTime() - started).toSeconds() < 10);
        long sleepPid = Long.parseLong(timeout.stdout().trim());
        assertFalse(ProcessHandle.of(sleepPid).map(ProcessHandle::isAlive).orElse(false), "sleep killed");
        assertTrue(timeout.getMessage().contains("sleep 30"), timeout.getMessage());
    }

    @Test
    void runsAsThePostgresUser() {
        PgUser user = PgUser.get();
        ProcessResult result = Processes.run(user.command("sh", "-c", "id -un; echo $PGPASSWORD")
                .env("PGPASSWORD", "passes runuser"));
        assertEquals(user.name() + "\npasses runuser\n", result.requireSuccess("id").stdout());
        if (user.switching()) {
            assertNotEquals("root", user.name());
        }
    }

    @Test
    void backgroundProcessIsKilledWithSigkillAndLogsToAFile(@TempDir Path dir) {
        Path log = dir.resolve("logs/sleeper.log");
        try (RunningProcess sleeper = Processes.start(
                Command.of("sh", "-c", "echo ready; echo to-stderr >&2; exec sleep 60"), log)) {
            sleeper.awaitLog("to-stderr", Duration.ofSeconds(10));
            assertTrue(sleeper.isAlive());
            sleeper.kill();
            assertFalse(sleeper.isAlive());
            assertEquals(128 + 9, sleeper.waitFor(Duration.ofSeconds(5)));
            assertEquals("ready\nto-stderr\n", sleeper.output());
        }
        try (RunningProcess sleeper = Processes.start(Command.of("sleep", "60"), log)) {
            assertEquals(128 + 15, sleeper.stop(Duration.ofSeconds(5)));
        }
        try (RunningProcess quitter = Processes.start(Command.of("sh", "-c", "exit 4"), log)) {
            AssertionError early = assertThrows(AssertionError.class,
                    () -> quitter.awaitLog("never", Duration.ofSeconds(10)));
            assertTrue(early.getMessage().contains("Exited with code 4"), early.getMessage());
        }
    }

    @Test
    void binariesFailLoudlyWhenMissing(@TempDir Path dir) {
        assertTrue(PgBinaries.require().bin("pg_receivewal").toString().endsWith("/pg_receivewal"));
        IllegalStateException missing = assertThrows(IllegalStateException.class, () -> PgBinaries.at(dir));
        assertTrue(missing.getMessage().contains("PostgreSQL 15 binaries not found at " + dir), missing.getMessage());
        assertTrue(missing.getMessage().contains("scripts/install-postgres.sh"), missing.getMessage());
    }
}
