package dev.walkeeper.actors.replication;

import dev.walkeeper.persistence.wal.ReceivedWalWriter;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * The downstream's registry of pushes being received: who is pushing each timeline right now, and
 * the {@link ReceivedWalWriter} of each timeline, kept open across pushes so that a pusher that
 * reconnects resumes exactly where the last one ended. Thread-safe: connections on any thread
 * {@link #acquire} and use their {@link Lease}.
 *
 * <p>At most one pusher per timeline: {@link #acquire} refuses a second one
 * ({@link InUseException}, which the session answers with SQLSTATE 55006) <em>unless the first is
 * dead</em>, i.e. its lease saw no message for {@code staleAfter} (a healthy pusher sends a
 * keepalive at least every second or so). A stale lease is revoked: its next operation fails with
 * {@link RevokedException}, so two connections never write the same files.
 */
public final class PushReceivers implements AutoCloseable {

    /** Another pusher holds the timeline. */
    public static final class InUseException extends Exception {
        private final String holder;

        InUseException(TenantTimelineId timeline, String holder) {
            super("timeline " + timeline + " is already receiving a WAL push from " + holder);
            this.holder = holder;
        }

        public String holder() {
            return holder;
        }
    }

    /** The lease was taken over by another pusher after this one went silent, or released. */
    public static final class RevokedException extends IOException {
        RevokedException(String message) {
            super(message);
        }
    }

    private final Function<TenantTimelineId, Path> directories;
    private final long staleAfterNanos;
    private final LongSupplier nanoClock;
    private final Map<TenantTimelineId, Entry> entries = new HashMap<>();
    private boolean closed;

    /**
     * @param directories where the WAL of a timeline is stored (created when missing)
     * @param staleAfter how long a pusher may stay silent before another may take its timeline over
     */
    public PushReceivers(Function<TenantTimelineId, Path> directories, Duration staleAfter) {
        this(directories, staleAfter, System::nanoTime);
    }

    /** As {@link #PushReceivers(Function, Duration)}, with the clock of the staleness rule. */
    public PushReceivers(Function<TenantTimelineId, Path> directories, Duration staleAfter, LongSupplier nanoClock) {
        this.directories = Objects.requireNonNull(directories);
        this.staleAfterNanos = staleAfter.toNanos();
        this.nanoClock = nanoClock;
    }

    /**
     * Takes {@code timeline} for {@code pusher}, opening its writer on first use.
     *
     * @param walSegSize the pusher's segment size; must match the one the timeline's files have
     * @throws InUseException if a live pusher holds the timeline
     * @throws IOException if the writer cannot be opened, or the segment size differs
     */
    public Lease acquire(TenantTimelineId timeline, String pusher, int walSegSize) throws InUseException, IOException {
        Entry entry;
        synchronized (this) {
            if (closed) {
                throw new IOException("the push receivers are closed");
            }
            entry = entries.get(timeline);
            if (entry == null) {
                entry = new Entry(timeline, ReceivedWalWriter.open(directories.apply(timeline), walSegSize));
                entries.put(timeline, entry);
            }
        }
        synchronized (entry) {
            if (entry.writer.segmentSize() != walSegSize) {
                throw new IOException("timeline " + timeline + " is stored in segments of " + entry.writer.segmentSize()
                        + " bytes, but the pusher's are " + walSegSize + " bytes");
            }
            Lease holder = entry.holder;
            if (holder != null) {
                if (nanoClock.getAsLong() - holder.lastActivity < staleAfterNanos) {
                    throw new InUseException(timeline, holder.pusher);
                }
                holder.revokedBy = pusher;
            }
            Lease lease = new Lease(entry, pusher);
            entry.holder = lease;
            return lease;
        }
    }

    /** Who pushes {@code timeline} now, or null. */
    public String pusherOf(TenantTimelineId timeline) {
        Entry entry;
        synchronized (this) {
            entry = entries.get(timeline);
        }
        if (entry == null) {
            return null;
        }
        synchronized (entry) {
            return entry.holder == null ? null : entry.holder.pusher;
        }
    }

    /** Every timeline being pushed now, with its pusher (for a status view). */
    public Map<TenantTimelineId, String> pushers() {
        Map<TenantTimelineId, String> result = new LinkedHashMap<>();
        synchronized (this) {
            for (Entry entry : entries.values()) {
                synchronized (entry) {
                    if (entry.holder != null) {
                        result.put(entry.timeline, entry.holder.pusher);
                    }
                }
            }
        }
        return result;
    }

    /** Closes every writer (without fsync of what was not flushed); leases fail from then on. */
    @Override
    public void close() throws IOException {
        IOException failure = null;
        synchronized (this) {
            closed = true;
            for (Entry entry : entries.values()) {
                synchronized (entry) {
                    if (entry.holder != null) {
                        entry.holder.revokedBy = "shutdown";
                        entry.holder = null;
                    }
                    try {
                        entry.writer.close();
                    } catch (IOException e) {
                        failure = e;
                    }
                }
            }
            entries.clear();
        }
        if (failure != null) {
            throw failure;
        }
    }

    private static final class Entry {
        final TenantTimelineId timeline;
        final ReceivedWalWriter writer;
        Lease holder;

        Entry(TenantTimelineId timeline, ReceivedWalWriter writer) {
            this.timeline = timeline;
            this.writer = writer;
        }
    }

    /**
     * One pusher's hold on a timeline: the only way to its writer while held. Every operation
     * counts as a sign of life. {@link #close()} releases it.
     */
    public final class Lease implements AutoCloseable {
        private final Entry entry;
        private final String pusher;
        /** Guarded by entry. */
        private long lastActivity;
        /** Guarded by entry: who took over, or why it ended; null while held. */
        private String revokedBy;

        private Lease(Entry entry, String pusher) {
            this.entry = entry;
            this.pusher = pusher;
            this.lastActivity = nanoClock.getAsLong();
        }

        public TenantTimelineId timeline() {
            return entry.timeline;
        }

        public String pusher() {
            return pusher;
        }

        public Path directory() {
            return entry.writer.directory();
        }

        /** The writer's durable end: where the pusher should start. */
        public Lsn startLsn() throws RevokedException {
            synchronized (entry) {
                check();
                return entry.writer.startLsn();
            }
        }

        public Lsn writeLsn() throws RevokedException {
            synchronized (entry) {
                check();
                return entry.writer.writeLsn();
            }
        }

        public Lsn flushLsn() throws RevokedException {
            synchronized (entry) {
                check();
                return entry.writer.flushLsn();
            }
        }

        /** {@link ReceivedWalWriter#write}; also a sign of life. */
        public long write(Lsn begin, ByteSlice bytes) throws IOException {
            synchronized (entry) {
                touchHeld();
                return entry.writer.write(begin, bytes);
            }
        }

        /** {@link ReceivedWalWriter#flush}; also a sign of life. */
        public Lsn flush() throws IOException {
            synchronized (entry) {
                touchHeld();
                return entry.writer.flush();
            }
        }

        /** A message from the pusher arrived: it is alive. */
        public void touch() throws RevokedException {
            synchronized (entry) {
                touchHeld();
            }
        }

        public boolean isRevoked() {
            synchronized (entry) {
                return revokedBy != null;
            }
        }

        /** Releases the timeline (idempotent); the writer stays open for the next pusher. */
        @Override
        public void close() {
            synchronized (entry) {
                if (entry.holder == this) {
                    entry.holder = null;
                }
                if (revokedBy == null) {
                    revokedBy = "released";
                }
            }
        }

        private void touchHeld() throws RevokedException {
            check();
            lastActivity = nanoClock.getAsLong();
        }

        private void check() throws RevokedException {
            if (revokedBy != null) {
                throw new RevokedException(revokedBy.equals("released") || revokedBy.equals("shutdown")
                        ? "the push of timeline " + entry.timeline + " by " + pusher + " has ended (" + revokedBy + ")"
                        : "the push of timeline " + entry.timeline + " by " + pusher + " was taken over by " + revokedBy
                                + " after " + pusher + " went silent");
            }
        }
    }
}
