package dev.walkeeper.protocol;

import java.util.function.Consumer;
import java.util.stream.LongStream;

/**
 * Seeds for property tests and simulations: JUnit 5 parameterized tests draw one seed per case
 * and build everything from one {@link java.util.SplittableRandom} on it, so a case is replayed
 * exactly by its seed.
 *
 * <p>{@code -Dwalkeeper.seeds=N} runs N seeds instead of a test's default count (a longer run on
 * demand); {@code -Dwalkeeper.seed=S} runs seed S alone (the replay of a failure).
 */
public final class Seeds {
    public static final String COUNT_PROPERTY = "walkeeper.seeds";
    public static final String SEED_PROPERTY = "walkeeper.seed";

    /** jqwik's default number of tries, which the properties ran with before. */
    public static final int DEFAULT_COUNT = 1000;

    private Seeds() {
    }

    /** The default {@code @MethodSource} of a property: {@link #DEFAULT_COUNT} seeds. */
    public static LongStream seeds() {
        return of(DEFAULT_COUNT);
    }

    /** Seeds 0 to count − 1 (small numbers, easy to quote), or the one asked for on the command line. */
    public static LongStream of(int defaultCount) {
        String one = System.getProperty(SEED_PROPERTY);
        if (one != null && !one.isBlank()) {
            return LongStream.of(Long.parseLong(one.trim()));
        }
        String count = System.getProperty(COUNT_PROPERTY);
        int n = count == null || count.isBlank() ? defaultCount : Integer.parseInt(count.trim());
        return LongStream.range(0, n);
    }

    /**
     * Runs {@code property} on values drawn from {@code seed}; a failure is rethrown with the seed
     * and the way to replay it at the front of its message.
     */
    public static void check(long seed, Consumer<Gen> property) {
        try {
            property.accept(new Gen(seed));
        } catch (Throwable failure) {
            throw failed(seed, failure);
        }
    }

    /**
     * An {@link AssertionError} that names the seed of a failed case, with the failure's message,
     * stack trace and cause (not the failure itself as cause: its message would print twice).
     */
    public static AssertionError failed(long seed, Throwable failure) {
        AssertionError error = new AssertionError("seed " + seed + " failed (replay alone with -D" + SEED_PROPERTY
                + "=" + seed + "): " + failure);
        error.setStackTrace(failure.getStackTrace());
        if (failure.getCause() != null) {
            error.initCause(failure.getCause());
        }
        return error;
    }
}
