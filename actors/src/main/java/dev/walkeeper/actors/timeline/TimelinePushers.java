package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.consensus.ServerInfo;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * The push side of one {@link Timeline}, run inside its actor (not thread-safe): the push
 * replicators of its downstreams while this node has the push role, the durable LSN each
 * downstream last reported, and who watches that. A downstream's next replicator starts only once
 * the previous one stopped, so this node never holds two connections to one downstream.
 */
final class TimelinePushers {
    private final ActorContext<Timeline.Command> context;
    private final TenantTimelineId id;
    private final long nodeId;
    private final Path walDir;
    private final List<PushReplicator.Downstream> downstreams;
    private final ActorRef<PushReplicator.DownstreamFlushed> progress;
    /** One per downstream while pushing; told every commit advance. */
    private final List<ActorRef<PushReplicator.Command>> running = new ArrayList<>();
    private final Set<ActorRef<PushReplicator.Command>> stopping = new HashSet<>();
    private final Map<InetSocketAddress, Lsn> flushed = new HashMap<>();
    private final Set<ActorRef<Timeline.PushProgress>> watchers = new HashSet<>();
    private boolean role;

    TimelinePushers(ActorContext<Timeline.Command> context, TenantTimelineId id, long nodeId, Path walDir,
                    List<PushReplicator.Downstream> downstreams, boolean role) {
        this.context = context;
        this.id = id;
        this.nodeId = nodeId;
        this.walDir = walDir;
        this.downstreams = List.copyOf(downstreams);
        this.role = role;
        this.progress = context.messageAdapter(PushReplicator.DownstreamFlushed.class, Timeline.DownstreamFlushed::new);
    }

    List<ActorRef<PushReplicator.Command>> running() {
        return List.copyOf(running);
    }

    boolean isEmpty() {
        return running.isEmpty();
    }

    boolean role() {
        return role;
    }

    /** Takes the role or gives it up (stopping the replicators, which closes their connections); false if unchanged. */
    boolean setRole(boolean push) {
        if (push == role) {
            return false;
        }
        role = push;
        context.getLog().info("timeline {}: this node {} its downstreams", id, push ? "now pushes to" : "no longer pushes to");
        if (!push) {
            for (ActorRef<PushReplicator.Command> pusher : running) {
                context.stop(pusher);
                stopping.add(pusher);
            }
            running.clear();
            tellWatchers();
        }
        return true;
    }

    /**
     * Starts a replicator per downstream when this node has the role and none runs or is still
     * stopping; each resumes where its downstream says it is and pushes up to {@code commitLsn}.
     */
    void startIfDue(ServerInfo server, Lsn commitLsn) {
        if (!role || !running.isEmpty() || !stopping.isEmpty() || downstreams.isEmpty()) {
            return;
        }
        for (PushReplicator.Downstream downstream : downstreams) {
            PushReplicator.Source source = new PushReplicator.Source(id, server.systemId(), server.walSegSize(),
                    server.pgVersion(), walDir, nodeId);
            // It reads segment files: off the default dispatcher.
            ActorRef<PushReplicator.Command> pusher = context.spawn(PushReplicator.create(downstream, source, commitLsn,
                    PushReplicator.Tuning.DEFAULTS, progress), PushReplicator.actorName(downstream.address()),
                    DispatcherSelector.blocking());
            context.watchWith(pusher, new Timeline.PusherStopped(pusher));
            running.add(pusher);
        }
        tellWatchers();
    }

    /** A replicator stopped; true when one told to stop was the last one stopping (a successor may start). */
    boolean stopped(ActorRef<PushReplicator.Command> pusher) {
        if (running.remove(pusher)) {
            tellWatchers();
        }
        return stopping.remove(pusher) && stopping.isEmpty();
    }

    void commitAdvanced(Lsn commitLsn) {
        running.forEach(p -> p.tell(new PushReplicator.CommitAdvanced(commitLsn)));
    }

    void flushed(PushReplicator.DownstreamFlushed report) {
        Lsn before = flushed.get(report.downstream());
        if (before == null || report.flushLsn().compareTo(before) > 0) {
            flushed.put(report.downstream(), report.flushLsn());
            tellWatchers();
        }
    }

    void watch(ActorRef<Timeline.PushProgress> subscriber) {
        if (watchers.add(subscriber)) {
            context.watchWith(subscriber, new Timeline.WatcherGone(subscriber));
        }
        subscriber.tell(progress());
    }

    void unwatch(ActorRef<?> subscriber) {
        watchers.remove(subscriber);
    }

    private Timeline.PushProgress progress() {
        List<ClusterTimelines.DownstreamPosition> positions = new ArrayList<>();
        for (PushReplicator.Downstream d : downstreams) {
            positions.add(new ClusterTimelines.DownstreamPosition(d.address().getHostString() + ":"
                    + d.address().getPort(), flushed.getOrDefault(d.address(), Lsn.INVALID)));
        }
        return new Timeline.PushProgress(!running.isEmpty(), positions);
    }

    private void tellWatchers() {
        if (!watchers.isEmpty()) {
            Timeline.PushProgress now = progress();
            watchers.forEach(w -> w.tell(now));
        }
    }
}
