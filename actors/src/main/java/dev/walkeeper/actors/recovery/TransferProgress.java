package dev.walkeeper.actors.recovery;

import dev.walkeeper.protocol.Lsn;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;

/**
 * How far a WAL transfer (peer recovery, timeline copy) got towards its target, for the log: a
 * progress text at most once per {@link #EVERY}, however often the flush LSN moves, and a summary
 * at the end. Times are {@link System#nanoTime} values passed in, so no timer runs for logging.
 */
final class TransferProgress {
    static final Duration EVERY = Duration.ofSeconds(5);

    private final Lsn from;
    private final Lsn target;
    private final long startedNanos;
    private long lastLineNanos;
    private Lsn reached;

    TransferProgress(Lsn from, Lsn target, long nowNanos) {
        this.from = from;
        this.target = target;
        this.startedNanos = nowNanos;
        this.lastLineNanos = nowNanos;
        this.reached = from;
    }

    /**
     * Records that the transfer {@code reached} this LSN; "at LSN, X of Y MB (P%), R MB/s" when the
     * last line is {@link #EVERY} old, else empty.
     */
    Optional<String> due(Lsn reached, long nowNanos) {
        this.reached = reached;
        if (nowNanos - lastLineNanos < EVERY.toNanos()) {
            return Optional.empty();
        }
        lastLineNanos = nowNanos;
        long done = done(reached);
        long total = Math.max(0, target.value() - from.value());
        return Optional.of(String.format(Locale.ROOT, "at %s, %s of %s MB (%d%%), %s MB/s", reached, mb(done),
                mb(total), total == 0 ? 100 : Math.min(100, done * 100 / total), rate(done, nowNanos)));
    }

    /** As {@link #summary(long)}, once the transfer ended at {@code reached}. */
    String summary(Lsn reached, long nowNanos) {
        this.reached = reached;
        return summary(nowNanos);
    }

    /** "X MB in S s, R MB/s", up to the LSN last recorded. */
    String summary(long nowNanos) {
        long done = done(reached);
        return String.format(Locale.ROOT, "%s MB in %.1f s, %s MB/s", mb(done),
                (nowNanos - startedNanos) / 1e9, rate(done, nowNanos));
    }

    private long done(Lsn reached) {
        return Math.max(0, reached.value() - from.value());
    }

    private String rate(long bytes, long nowNanos) {
        double seconds = Math.max(1e-3, (nowNanos - startedNanos) / 1e9);
        return String.format(Locale.ROOT, "%.1f", bytes / seconds / (1024 * 1024));
    }

    private static String mb(long bytes) {
        return String.format(Locale.ROOT, "%.1f", bytes / (1024.0 * 1024));
    }
}
