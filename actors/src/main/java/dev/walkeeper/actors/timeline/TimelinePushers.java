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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * The push side of one {@link Timeline}, run inside its actor (not thread-safe): the push
 * replicators of its downstreams (configured, and registered at runtime) while this node has the
 * push role, the durable LSN each downstream last reported, and who watches that. A downstream's
 * next replicator starts only once the previous one stopped, so this node never holds two
 * connections to one downstream.
 */
final class TimelinePushers {
    private final ActorContext<Timeline.Command> context;
    private final TenantTimelineId id;
    private final long nodeId;
    private final Path walDir;
    /** From the node's configuration, for good. */
    private final List<PushReplicator.Downstream> configured;
    /** Configured, then those registered at runtime (told by the shared state) at other addresses. */
    private List<PushReplicator.Downstream> downstreams;
    private final ActorRef<PushReplicator.DownstreamFlushed> progress;
    /** One per downstream address while pushing; told every commit advance. */
    private final Map<InetSocketAddress, ActorRef<PushReplicator.Command>> running = new LinkedHashMap<>();
    /** Told to stop, not stopped yet: no successor for their address starts meanwhile. */
    private final Map<ActorRef<PushReplicator.Command>, InetSocketAddress> stopping = new HashMap<>();
    private final Map<InetSocketAddress, Lsn> flushed = new HashMap<>();
    private final Set<ActorRef<Timeline.PushProgress>> watchers = new HashSet<>();
    private boolean role;

    TimelinePushers(ActorContext<Timeline.Command> context, TenantTimelineId id, long nodeId, Path walDir,
                    List<PushReplicator.Downstream> downstreams, boolean role) {
        this.context = context;
        this.id = id;
        this.nodeId = nodeId;
        this.walDir = walDir;
        this.configured = List.copyOf(downstreams);
        this.downstreams = this.configured;
        this.role = role;
        this.progress = context.messageAdapter(PushReplicator.DownstreamFlushed.class, Timeline.DownstreamFlushed::new);
    }

    List<ActorRef<PushReplicator.Command>> running() {
        return List.copyOf(running.values());
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
            List.copyOf(running.keySet()).forEach(this::stop);
            tellWatchers();
        }
        return true;
    }

    /**
     * The downstreams registered at runtime for this timeline (replacing those told before); one
     * at the address of a configured downstream is left out. Replicators of downstreams no longer
     * listed stop; false if nothing changed.
     */
    boolean setRegistered(List<PushReplicator.Downstream> registered) {
        Map<InetSocketAddress, PushReplicator.Downstream> all = new LinkedHashMap<>();
        configured.forEach(d -> all.put(d.address(), d));
        registered.forEach(d -> all.putIfAbsent(d.address(), d));
        List<PushReplicator.Downstream> now = List.copyOf(all.values());
        if (now.equals(downstreams)) {
            return false;
        }
        downstreams = now;
        for (InetSocketAddress address : List.copyOf(running.keySet())) {
            if (!all.containsKey(address)) {
                context.getLog().info("timeline {}: downstream {} removed, its replicator stops", id, address);
                stop(address);
            }
        }
        flushed.keySet().retainAll(all.keySet());
        tellWatchers();
        return true;
    }

    private void stop(InetSocketAddress address) {
        ActorRef<PushReplicator.Command> pusher = running.remove(address);
        context.stop(pusher);
        stopping.put(pusher, address);
    }

    /**
     * With the role, starts a replicator for each downstream that has none running or still
     * stopping; each resumes where its downstream says it is and pushes up to {@code commitLsn}.
     */
    void startIfDue(ServerInfo server, Lsn commitLsn) {
        if (!role) {
            return;
        }
        boolean started = false;
        for (PushReplicator.Downstream downstream : downstreams) {
            if (running.containsKey(downstream.address()) || stopping.containsValue(downstream.address())) {
                continue;
            }
            PushReplicator.Source source = new PushReplicator.Source(id, server.systemId(), server.walSegSize(),
                    server.pgVersion(), walDir, nodeId);
            // It reads segment files: off the default dispatcher.
            ActorRef<PushReplicator.Command> pusher = context.spawn(PushReplicator.create(downstream, source, commitLsn,
                    PushReplicator.Tuning.DEFAULTS, progress), PushReplicator.actorName(downstream.address()),
                    DispatcherSelector.blocking());
            context.watchWith(pusher, new Timeline.PusherStopped(pusher));
            running.put(downstream.address(), pusher);
            started = true;
        }
        if (started) {
            tellWatchers();
        }
    }

    /** A replicator stopped; true when it was told to stop (a successor for its downstream may start). */
    boolean stopped(ActorRef<PushReplicator.Command> pusher) {
        if (running.values().remove(pusher)) {
            tellWatchers();
        }
        return stopping.remove(pusher) != null;
    }

    void commitAdvanced(Lsn commitLsn) {
        running.values().forEach(p -> p.tell(new PushReplicator.CommitAdvanced(commitLsn)));
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
