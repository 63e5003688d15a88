package dev.walkeeper.testkit;

import java.time.Duration;

/**
 * A command did not finish in time and was killed. It is an {@link AssertionError} so that a hung
 * tool shows up as a test failure carrying everything the tool printed before it hung.
 */
public final class ProcessTimeoutException extends AssertionError {

    private static final long serialVersionUID = 1L;

    private final String stdout;
    private final String stderr;

    public ProcessTimeoutException(String command, Duration timeout, String stdout, String stderr) {
        super("Timed out after " + timeout + " and killed: " + command
                + Processes.describeOutput(stdout, stderr));
        this.stdout = stdout;
        this.stderr = stderr;
    }

    public String stdout() {
        return stdout;
    }

    public String stderr() {
        return stderr;
    }
}
