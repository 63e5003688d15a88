package dev.walkeeper.testkit;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waiting on a condition with a deadline, and log tails for what a failed wait reports. */
public final class Await {
    private static final long POLL_MILLIS = 50;
    private static final int TAIL_CHARS = 8000;

    private Await() {}

    /**
     * Polls {@code condition} until it holds; after {@code limit} an {@link AssertionError} says
     * {@code failure}'s text (computed then, so it shows the state at the deadline).
     */
    public static void until(Duration limit, BooleanSupplier condition, Supplier<String> failure)
            throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("within " + limit + ": " + failure.get());
            }
            Thread.sleep(POLL_MILLIS);
        }
    }

    /** The end of a log, short enough for an assertion message. */
    public static String tail(String log) {
        return log.length() <= TAIL_CHARS ? log : "…" + log.substring(log.length() - TAIL_CHARS);
    }
}
