package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.metrics.NodeMetrics;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.persistence.wal.WalStore;
import java.io.IOException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * A timeline's flusher: runs the fsyncs of its {@link WalStore.FlushJob}s on a blocking dispatcher,
 * so that the timeline goes on writing appends meanwhile, and reports each as a
 * {@link Timeline.FlushDone}. The timeline sends at most one job at a time.
 */
final class WalFlusher {

    record Run(WalStore.FlushJob job, ActorRef<Timeline.Command> replyTo) {}

    private WalFlusher() {}

    static Behavior<Run> create(NodeMetrics.TimelineMetrics metrics) {
        return Behaviors.setup(ctx -> {
            CommitTrace trace = CommitTrace.get(ctx.getSystem());
            return Behaviors.receive(Run.class)
                .onMessage(Run.class, run -> {
                    IOException failure = null;
                    long target = run.job().target().value();
                    trace.stamp(Stage.FSYNC_STARTED, target);
                    long started = System.nanoTime();
                    try {
                        run.job().run();
                    } catch (IOException e) {
                        failure = e;
                    }
                    metrics.flushed(System.nanoTime() - started);
                    trace.stamp(Stage.FSYNC_DONE, target);
                    run.replyTo().tell(new Timeline.FlushDone(run.job(), failure));
                    return Behaviors.same();
                })
                .build();
        });
    }
}
