package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.metrics.NodeMetrics;
import dev.walkeeper.actors.socket.SocketIo;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.persistence.wal.WalStore;
import java.io.IOException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * A timeline's group commit, as PostgreSQL's walreceiver does it: appends are written as they
 * come, and one fsync covers everything written before it started. At most one fsync is in
 * flight, on the {@link WalFlusher} (writes go on meanwhile); what is written during it is
 * flushed by the next one, started as soon as it is done. On an idle I/O loop the fsync runs
 * right there instead, saving the hand-off to the flusher and back.
 *
 * <p>The timeline owns the acceptor and the journal; this class only decides when a flush job
 * runs and where, and hands each finished job back to the timeline's {@link Completion}.
 */
final class GroupCommit {

    static final String FLUSH_WHEN_IDLE = "walkeeper.flush-when-idle";

    /** What the timeline does with a job whose fsync succeeded. */
    interface Completion {
        void completed(WalStore.FlushJob job) throws IOException;
    }

    private final ActorContext<Timeline.Command> context;
    private final WalHolder wal;
    private final CommitTrace trace;
    private final ActorRef<WalFlusher.Run> flusher;
    /** Times the flushes that run here; the flusher times its own. */
    private final NodeMetrics.TimelineMetrics metrics;
    /** Whether a flush may run on the timeline's own thread when that is an idle I/O loop. */
    private final boolean whenIdle;
    /** A FlushDue is on its way to the timeline. */
    private boolean scheduled;
    /** A FlushDue was put behind the loop's queued tasks once already. */
    private boolean deferred;
    /** The flush job the flusher has, or null. */
    private WalStore.FlushJob inFlight;
    /** More was written while a job was in flight: flush again when it is done. */
    private boolean wanted;

    GroupCommit(ActorContext<Timeline.Command> context, WalHolder wal, CommitTrace trace,
                NodeMetrics.TimelineMetrics metrics) {
        this.context = context;
        this.wal = wal;
        this.trace = trace;
        this.metrics = metrics;
        com.typesafe.config.Config config = context.getSystem().settings().config();
        this.whenIdle = !config.hasPath(FLUSH_WHEN_IDLE) || config.getBoolean(FLUSH_WHEN_IDLE);
        // Anonymous: a restarted timeline spawns its own while the old one may still be stopping.
        this.flusher = context.spawnAnonymous(WalFlusher.create(metrics), DispatcherSelector.blocking());
    }

    /** WAL was written: the timeline gets one {@link Timeline#FLUSH_DUE} for all writes until it handles it. */
    void request() {
        if (!scheduled) {
            scheduled = true;
            context.getSelf().tell(Timeline.FLUSH_DUE);
        }
    }

    /**
     * On FlushDue: true when the flush was put off, once, behind what the loop has queued now (the
     * connection taking Processed, its reader); then the loop can tell whether it is idle and
     * the fsync may run on it. False: flush now (if {@code serving}: a timeline that refuses
     * service flushes nothing).
     */
    boolean deferBehindQueued(boolean serving) {
        if (serving && whenIdle && !deferred && inFlight == null
                && SocketIo.runAfterQueued(() -> context.getSelf().tell(Timeline.FLUSH_DUE))) {
            deferred = true;
            return true;
        }
        deferred = false;
        scheduled = false;
        return false;
    }

    /**
     * Flushes everything written: on this thread when it is an idle loop or there is nothing to
     * sync, else on the flusher, unless a job is in flight (then once that one is done).
     *
     * @throws IOException from a flush that ran here ({@code WalSyncFailedException}: an fsync failed)
     */
    void start(Completion completion) throws IOException {
        if (inFlight != null) {
            wanted = true;
            return;
        }
        WalStore.FlushJob job = wal.prepareFlush();
        if (!job.hasWork()) {
            job.run();
            completion.completed(job);
            return;
        }
        trace.stamp(Stage.NODE_FLUSH_REQUESTED, job.target().value());
        if (whenIdle && SocketIo.callerIsIdleLoop()) {
            // Nothing else waits for this thread: the fsync here costs nobody anything and saves
            // the hand-off to the flusher and back (one commit at a time, as in pgbench -c 1,
            // gains most).
            trace.stamp(Stage.FSYNC_STARTED, job.target().value());
            long started = System.nanoTime();
            job.run();
            metrics.flushed(System.nanoTime() - started);
            trace.stamp(Stage.FSYNC_DONE, job.target().value());
            trace.stamp(Stage.FLUSH_DONE_AT_TIMELINE, job.target().value());
            completion.completed(job);
            return;
        }
        inFlight = job;
        flusher.tell(new WalFlusher.Run(job, context.getSelf()));
    }

    /** The flusher's report: false when it is stale (from before a restart), to be ignored. */
    boolean finished(Timeline.FlushDone done) {
        if (done.job() != inFlight) {
            return false;
        }
        inFlight = null;
        return true;
    }

    /** Whether WAL was written while the finished job ran, so another flush is due (asked once). */
    boolean takeWanted() {
        boolean again = wanted;
        wanted = false;
        return again;
    }
}
