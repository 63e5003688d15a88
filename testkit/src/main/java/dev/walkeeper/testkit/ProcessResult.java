package dev.walkeeper.testkit;

/**
 * Outcome of a finished command. Output is captured in full so a failing assertion can show
 * exactly what the tool said.
 */
public record ProcessResult(int exitCode, String stdout, String stderr) {

    public boolean succeeded() {
        return exitCode == 0;
    }

    /**
     * Returns this result if the exit code is 0, otherwise fails with both output streams in the
     * message, because a bare exit code is useless when a test breaks in CI.
     *
     * @param what a description of the command, for the failure message
     */
    public ProcessResult requireSuccess(String what) {
        if (!succeeded()) {
            throw new AssertionError(what + " failed with exit code " + exitCode
                    + Processes.describeOutput(stdout, stderr));
        }
        return this;
    }
}
