package dev.walkeeper.actors.recovery;

import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * Peer recovery of one timeline: watches the timeline's positions, and every check interval,
 * while no stream runs, asks the cluster's shared state for the peers' positions and applies
 * {@link RecoveryRule}. When the rule names a donor it runs one {@link PeerRecoveryClient} to the
 * donor's wire address, which hands the WAL to the timeline. The stream is stopped once our
 * flush LSN reached the donor's published flush LSN (caught up; the next check decides again) or
 * our term changed (a proposer is electing: its ProposerElected decides where our WAL ends). One
 * per timeline, started by the {@link TimelineRegistry}; it stops with its timeline.
 */
public final class PeerRecovery extends AbstractBehavior<PeerRecovery.Command> {

    public sealed interface Command {}

    private enum Tick implements Command { CHECK, REWATCH }

    private record Local(Timeline.PositionsEvent event) implements Command {}

    private record Peers(ClusterTimelines.View view) implements Command {}

    private record FromClient(PeerRecoveryClient.Event event) implements Command {}

    /** How long to wait before watching the timeline again after an interruption (a restart). */
    private static final Duration REWATCH_AFTER = Duration.ofSeconds(1);

    /** Connections to a donor's address: real sockets, or probes in tests. */
    public static Function<InetSocketAddress, SocketFactory> tcp(RecoverySettings settings) {
        return address -> ClientConnection.sockets(address, settings.handshakeTimeout());
    }

    public static Behavior<Command> create(TenantTimelineId id, long nodeId, ActorRef<Timeline.Command> timeline,
                                           ActorRef<TimelineRegistry.Command> registry, RecoverySettings settings,
                                           Function<InetSocketAddress, SocketFactory> sockets) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new PeerRecovery(ctx, timers, id, nodeId, timeline, registry, settings, sockets)));
    }

    private final TimerScheduler<Command> timers;
    private final TenantTimelineId id;
    private final long nodeId;
    private final ActorRef<Timeline.Command> timeline;
    private final ActorRef<TimelineRegistry.Command> registry;
    private final RecoverySettings settings;
    private final Function<InetSocketAddress, SocketFactory> sockets;
    private final ActorRef<Timeline.PositionsEvent> positions;
    /** Our latest positions, null until known (or after an interruption). */
    private Timeline.Positions local;
    private ActorRef<PeerRecoveryClient.Command> client;
    /** What the running client was started for; null once it was told to stop. */
    private RecoveryRule.Plan plan;
    private long donorNode;
    private TransferProgress progress;

    private PeerRecovery(ActorContext<Command> ctx, TimerScheduler<Command> timers, TenantTimelineId id, long nodeId,
                         ActorRef<Timeline.Command> timeline, ActorRef<TimelineRegistry.Command> registry,
                         RecoverySettings settings, Function<InetSocketAddress, SocketFactory> sockets) {
        super(ctx);
        this.timers = timers;
        this.id = id;
        this.nodeId = nodeId;
        this.timeline = timeline;
        this.registry = registry;
        this.settings = settings;
        this.sockets = sockets;
        this.positions = ctx.messageAdapter(Timeline.PositionsEvent.class, Local::new);
        ctx.watch(timeline);
        timeline.tell(new Timeline.WatchPositions(positions));
        timers.startTimerWithFixedDelay(Tick.CHECK, Tick.CHECK, settings.checkInterval());
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessageEquals(Tick.CHECK, this::onCheck)
                .onMessageEquals(Tick.REWATCH, () -> {
                    timeline.tell(new Timeline.WatchPositions(positions));
                    return this;
                })
                .onMessage(Local.class, this::onLocal)
                .onMessage(Peers.class, this::onPeers)
                .onMessage(FromClient.class, this::onClientEvent)
                .onSignal(Terminated.class, t -> t.getRef().equals(timeline) ? Behaviors.<Command>stopped() : this)
                .build();
    }

    private Behavior<Command> onCheck() {
        if (client == null && local != null) {
            registry.tell(new TimelineRegistry.AskCluster(new ClusterTimelines.GetTimeline(id,
                    getContext().messageAdapter(ClusterTimelines.View.class, Peers::new))));
        }
        return this;
    }

    private Behavior<Command> onLocal(Local message) {
        if (message.event() instanceof Timeline.Interrupted interrupted) {
            local = null;
            stopClient("the timeline was interrupted: " + interrupted.reason());
            timers.startSingleTimer(Tick.REWATCH, Tick.REWATCH, REWATCH_AFTER);
            return this;
        }
        local = (Timeline.Positions) message.event();
        if (plan != null && local.term() != plan.term()) {
            stopClient("our term changed to " + local.term());
        } else if (plan != null && local.flushLsn().compareTo(plan.target()) >= 0) {
            stopClient("caught up at " + local.flushLsn() + ", "
                    + progress.summary(local.flushLsn(), System.nanoTime()));
        } else if (plan != null) {
            progress.due(local.flushLsn(), System.nanoTime()).ifPresent(line ->
                    getContext().getLog().info("timeline {}: recovering from node {}: {}", id, donorNode, line));
        }
        return this;
    }

    private Behavior<Command> onPeers(Peers message) {
        if (client != null || local == null) {
            return this;
        }
        Optional<String> self = message.view().members().stream().filter(ClusterTimelines.Member::self)
                .map(ClusterTimelines.Member::address).findFirst();
        List<ClusterTimelines.MemberPositions> peers = message.view().positions().stream()
                .filter(p -> p.id().equals(id))
                .filter(p -> self.isEmpty() || !p.address().equals(self.get()))
                .toList();
        Optional<RecoveryRule.Plan> decided = RecoveryRule.decide(local, peers, settings.minLagBytes());
        if (decided.isEmpty()) {
            return this;
        }
        RecoveryRule.Plan next = decided.get();
        InetSocketAddress address;
        try {
            address = parseListen(next.donor().listen());
        } catch (IllegalArgumentException e) {
            getContext().getLog().warn("timeline {}: peer {} publishes an unusable address: {}", id,
                    next.donor().address(), e.getMessage());
            return this;
        }
        getContext().getLog().info("timeline {}: recovering WAL of term {} from node {} at {}, from {} towards {}",
                id, next.term(), next.donor().nodeId(), next.donor().listen(), next.from(), next.target());
        PeerRecoveryClient.Settings clientSettings = new PeerRecoveryClient.Settings(settings.user(),
                settings.password(), nodeId, id, next.term(), next.from(), next.donorCommitLsn(),
                settings.handshakeTimeout());
        plan = next;
        progress = new TransferProgress(next.from(), next.target(), System.nanoTime());
        donorNode = next.donor().nodeId();
        client = getContext().spawnAnonymous(PeerRecoveryClient.create(clientSettings, timeline,
                getContext().messageAdapter(PeerRecoveryClient.Event.class, FromClient::new), sockets.apply(address)));
        return this;
    }

    private Behavior<Command> onClientEvent(FromClient message) {
        PeerRecoveryClient.Event event = message.event();
        if (!event.client().equals(client)) {
            return this; // an earlier stream's
        }
        if (event instanceof PeerRecoveryClient.Failed failed) {
            getContext().getLog().info("timeline {}: recovery from node {} ended: {} (after {})", id, donorNode,
                    failed.reason(), progress.summary(System.nanoTime()));
        }
        client = null;
        plan = null;
        return this;
    }

    private void stopClient(String why) {
        if (client != null && plan != null) {
            getContext().getLog().info("timeline {}: stopping recovery from node {}: {}", id, donorNode, why);
            client.tell(PeerRecoveryClient.Stop.INSTANCE);
            plan = null; // its Closed still clears the client
        }
    }

    /** HOST:PORT (an IPv6 host in brackets or not: the port follows the last colon). */
    static InetSocketAddress parseListen(String listen) {
        int colon = listen.lastIndexOf(':');
        if (colon <= 0 || colon == listen.length() - 1) {
            throw new IllegalArgumentException("not HOST:PORT: " + listen);
        }
        String host = listen.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        int port;
        try {
            port = Integer.parseInt(listen.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not HOST:PORT: " + listen, e);
        }
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port out of range: " + listen);
        }
        return InetSocketAddress.createUnresolved(host, port);
    }
}
