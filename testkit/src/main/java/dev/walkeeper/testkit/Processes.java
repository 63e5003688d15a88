package dev.walkeeper.testkit;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs external commands (PostgreSQL tools, walkeeper node JVMs) for tests.
 *
 * <p>Both output streams are drained by their own threads, so a chatty tool can never block on a
 * full pipe and deadlock the test. A command that outlives its timeout is killed together with
 * its descendants: with {@code runuser} in front, killing only the direct child would leave the
 * real tool running.
 */
public final class Processes {

    /** How long to wait for the output pumps after the process exited or was killed. */
    private static final Duration DRAIN_GRACE = Duration.ofSeconds(5);
    /** Keeps failure messages readable when a tool printed megabytes. */
    private static final int MAX_SHOWN_CHARS = 20_000;

    private Processes() {
    }

    /** Runs the command to completion, capturing stdout and stderr in full. */
    public static ProcessResult run(Command command) {
        Process process = spawn(command, null);
        Pump out = new Pump(process.getInputStream(), "stdout of " + command);
        Pump err = new Pump(process.getErrorStream(), "stderr of " + command);
        feedStdin(process, command);
        try {
            if (!process.waitFor(command.timeout().toMillis(), TimeUnit.MILLISECONDS)) {
                killTree(process);
                throw new ProcessTimeoutException(command.toString(), command.timeout(),
                        out.await(), err.await());
            }
            return new ProcessResult(process.exitValue(), out.await(), err.await());
        } catch (InterruptedException e) {
            killTree(process);
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while running " + command, e);
        }
    }

    /**
     * Starts a long-running command whose stdout and stderr are appended to {@code logFile}, for
     * diagnostics after the test. The command's timeout does not apply; the handle decides when
     * the process ends.
     */
    public static RunningProcess start(Command command, Path logFile) {
        try {
            Files.createDirectories(logFile.toAbsolutePath().getParent());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Process process = spawn(command, logFile);
        try {
            process.getOutputStream().close();
        } catch (IOException e) {
            // The process may already have exited; its log tells why.
        }
        return new RunningProcess(process, command.toString(), logFile);
    }

    /**
     * Sends SIGKILL to the process and all its descendants and waits until they are gone.
     * Descendants go first, repeatedly, because once the parent dies they are re-parented and can
     * no longer be found through it.
     */
    static void killTree(Process process) {
        List<ProcessHandle> killed = new ArrayList<>();
        for (int round = 0; round < 10; round++) {
            List<ProcessHandle> descendants = process.descendants().toList();
            if (descendants.isEmpty()) {
                break;
            }
            descendants.forEach(ProcessHandle::destroyForcibly);
            killed.addAll(descendants);
        }
        process.destroyForcibly();
        killed.add(process.toHandle());
        awaitExit(killed);
    }

    /** Sends SIGTERM to the process and its descendants, letting them shut down cleanly. */
    static void terminateTree(Process process) {
        process.descendants().forEach(ProcessHandle::destroy);
        process.destroy();
    }

    private static void awaitExit(List<ProcessHandle> handles) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        for (ProcessHandle handle : handles) {
            try {
                long left = Math.max(1, deadline - System.nanoTime());
                handle.onExit().get(left, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (Exception e) {
                throw new IllegalStateException("Process " + handle.pid() + " survived SIGKILL", e);
            }
        }
    }

    static String describeOutput(String stdout, String stderr) {
        return "\n--- stdout ---\n" + tail(stdout) + "\n--- stderr ---\n" + tail(stderr);
    }

    static String tail(String text) {
        if (text.length() <= MAX_SHOWN_CHARS) {
            return text;
        }
        return "[... " + (text.length() - MAX_SHOWN_CHARS) + " chars omitted ...]\n"
                + text.substring(text.length() - MAX_SHOWN_CHARS);
    }

    private static Process spawn(Command command, Path logFile) {
        ProcessBuilder builder = new ProcessBuilder(command.argv());
        builder.environment().putAll(command.env());
        Path dir = command.effectiveWorkDir();
        if (dir != null) {
            builder.directory(dir.toFile());
        }
        if (logFile != null) {
            builder.redirectErrorStream(true);
            builder.redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
        }
        try {
            return builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot start " + command, e);
        }
    }

    /** Writes stdin from its own thread: a large input must not block while output piles up. */
    private static void feedStdin(Process process, Command command) {
        OutputStream stdin = process.getOutputStream();
        if (command.stdin() == null) {
            closeQuietly(stdin);
            return;
        }
        byte[] bytes = command.stdin().getBytes(StandardCharsets.UTF_8);
        Thread writer = new Thread(() -> {
            try (stdin) {
                stdin.write(bytes);
            } catch (IOException e) {
                // The command exited without reading everything; its exit code and output tell why.
            }
        }, "stdin of " + command);
        writer.setDaemon(true);
        writer.start();
    }

    private static void closeQuietly(OutputStream stream) {
        try {
            stream.close();
        } catch (IOException e) {
            // Nothing to tell: the process is gone already.
        }
    }

    /** Drains one stream into memory; the copy stays readable even if the process hangs or dies. */
    private static final class Pump {
        private final ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        private final Thread thread;

        Pump(InputStream in, String name) {
            thread = new Thread(() -> {
                byte[] chunk = new byte[8192];
                try (in) {
                    int n;
                    while ((n = in.read(chunk)) >= 0) {
                        synchronized (buffer) {
                            buffer.write(chunk, 0, n);
                        }
                    }
                } catch (IOException e) {
                    // The stream closes under us when the process is killed; keep what was read.
                }
            }, name);
            thread.setDaemon(true);
            thread.start();
        }

        /**
         * Waits briefly for end of stream. A daemon the command left behind may hold the pipe open
         * forever, so after the grace period whatever arrived so far is returned.
         */
        String await() throws InterruptedException {
            thread.join(DRAIN_GRACE.toMillis());
            synchronized (buffer) {
                return buffer.toString(StandardCharsets.UTF_8);
            }
        }
    }
}
