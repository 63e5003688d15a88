package dev.walkeeper.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A long-running process started by {@link Processes#start}, e.g. pg_receivewal or a walkeeper
 * node in its own JVM. {@link #kill()} is SIGKILL so tests can simulate a crash with no chance of
 * a clean shutdown; the output goes to a log file that outlives the process for diagnostics.
 */
public final class RunningProcess implements AutoCloseable {

    private final Process process;
    private final String command;
    private final Path logFile;

    RunningProcess(Process process, String command, Path logFile) {
        this.process = process;
        this.command = command;
        this.logFile = logFile;
    }

    public long pid() {
        return process.pid();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Crashes the process and its descendants with SIGKILL and waits until they are gone. */
    public void kill() {
        Processes.killTree(process);
    }

    /**
     * Asks the process tree to stop with SIGTERM and kills it if it is still alive after
     * {@code grace}.
     *
     * @return the exit code
     */
    public int stop(Duration grace) {
        Processes.terminateTree(process);
        try {
            if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                kill();
            }
            return process.waitFor();
        } catch (InterruptedException e) {
            kill();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while stopping " + command, e);
        }
    }

    /**
     * Waits for the process to exit by itself.
     *
     * @return the exit code
     * @throws AssertionError with the log if it is still running after {@code timeout}
     */
    public int waitFor(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError("Still running after " + timeout + ": " + command + logTail());
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while waiting for " + command, e);
        }
    }

    /**
     * Waits until the log contains {@code fragment}, the usual readiness signal of a server.
     *
     * @throws AssertionError with the log if the fragment does not appear in time or the process
     *     exits first
     */
    public void awaitLog(String fragment, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!output().contains(fragment)) {
            if (!process.isAlive()) {
                if (output().contains(fragment)) {
                    return;
                }
                throw new AssertionError("Exited with code " + process.exitValue() + " before logging '"
                        + fragment + "': " + command + logTail());
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("No '" + fragment + "' in the log within " + timeout + ": "
                        + command + logTail());
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("Interrupted while waiting for " + command, e);
            }
        }
    }

    public Path logFile() {
        return logFile;
    }

    /** Everything the process has written to stdout and stderr so far. */
    public String output() {
        try {
            // Lenient decoding: a crashing process may leave a torn multi-byte character behind.
            return Files.exists(logFile) ? new String(Files.readAllBytes(logFile), StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Kills the process if it is still running, so a failed test never leaks it. */
    @Override
    public void close() {
        if (process.isAlive()) {
            kill();
        }
    }

    private String logTail() {
        return "\n--- output (" + logFile + ") ---\n" + Processes.tail(output());
    }
}
