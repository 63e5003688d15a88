package dev.walkeeper.testkit;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * An immutable description of an external command for {@link Processes}: arguments, extra
 * environment, stdin, timeout, working directory and the OS user to run it as. Immutable so a
 * test can derive variants (another password, another user) from one template safely.
 */
public final class Command {

    /** Generous default: CI machines are slow, and a hung tool must still fail the test eventually. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    private final List<String> args;
    private final Map<String, String> env;
    private final String stdin;
    private final Duration timeout;
    private final Path workDir;
    private final String runAs;

    private Command(List<String> args, Map<String, String> env, String stdin, Duration timeout,
                    Path workDir, String runAs) {
        this.args = List.copyOf(args);
        this.env = Map.copyOf(env);
        this.stdin = stdin;
        this.timeout = timeout;
        this.workDir = workDir;
        this.runAs = runAs;
    }

    public static Command of(String... args) {
        return of(List.of(args));
    }

    public static Command of(List<String> args) {
        if (args.isEmpty()) {
            throw new IllegalArgumentException("empty command");
        }
        return new Command(args, Map.of(), null, DEFAULT_TIMEOUT, null, null);
    }

    /** Adds an environment variable on top of the JVM's environment (e.g. {@code PGPASSWORD}). */
    public Command env(String name, String value) {
        Map<String, String> copy = new LinkedHashMap<>(env);
        copy.put(Objects.requireNonNull(name), Objects.requireNonNull(value));
        return new Command(args, copy, stdin, timeout, workDir, runAs);
    }

    /** Text fed to the command's stdin, which is then closed; without it stdin is closed at once. */
    public Command stdin(String input) {
        return new Command(args, env, Objects.requireNonNull(input), timeout, workDir, runAs);
    }

    public Command timeout(Duration limit) {
        return new Command(args, env, stdin, Objects.requireNonNull(limit), workDir, runAs);
    }

    public Command workDir(Path dir) {
        return new Command(args, env, stdin, timeout, Objects.requireNonNull(dir), runAs);
    }

    /**
     * Runs the command as {@code osUser} via {@code runuser}, which only root may do. Naming the
     * JVM's own user, or {@code null}, runs it directly.
     */
    public Command runAs(String osUser) {
        return new Command(args, env, stdin, timeout, workDir, osUser);
    }

    public List<String> args() {
        return args;
    }

    public Map<String, String> env() {
        return env;
    }

    public String stdin() {
        return stdin;
    }

    public Duration timeout() {
        return timeout;
    }

    /** The argument vector actually executed, including the {@code runuser} prefix when switching user. */
    List<String> argv() {
        if (!switchesUser()) {
            return args;
        }
        List<String> argv = new ArrayList<>(List.of("runuser", "-u", runAs, "--"));
        argv.addAll(args);
        return argv;
    }

    /**
     * The working directory; when switching user it defaults to {@code /} because the other user
     * may not be allowed into the JVM's working directory (initdb and pg_ctl complain then).
     */
    Path effectiveWorkDir() {
        if (workDir != null) {
            return workDir;
        }
        return switchesUser() ? Path.of("/") : null;
    }

    private boolean switchesUser() {
        return runAs != null && !runAs.equals(System.getProperty("user.name"));
    }

    @Override
    public String toString() {
        return String.join(" ", argv());
    }
}
