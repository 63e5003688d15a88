package dev.walkeeper.actors.recovery;

import dev.walkeeper.actors.consensus.Acceptor;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One copy of a timeline to this node from a peer ({@code PULL_TIMELINE}, in the manner of Neon's
 * {@code pull_timeline}), step by step: the members' published positions (shared state) → the
 * donor ({@link CopyRule#chooseDonor}, unless the operator named one) → its acceptor state
 * ({@link TimelineStateClient}: {@code TIMELINE_STATE}) → what to install ({@link CopyRule#plan})
 * → the timeline journals it ({@link Timeline.InstallCopy}) → the donor's WAL from its local start
 * to the plan's limit ({@link PeerRecoveryClient}, {@code START_REPLICATION ... (term='N')},
 * written and fsynced through the timeline's group commit) → {@link Copied} once our flush LSN
 * reached the limit. Any refusal or failure → {@link CopyFailed} with an SQLSTATE. Stops when done.
 */
public final class TimelineCopy {
    private TimelineCopy() {}

    public sealed interface Command {}

    private record Peers(ClusterTimelines.View view) implements Command {}

    private record FromStateClient(TimelineStateClient.Event event) implements Command {}

    private record FromTimeline(Timeline.CopyReply reply) implements Command {}

    private record Local(Timeline.PositionsEvent event) implements Command {}

    private record FromWalClient(PeerRecoveryClient.Event event) implements Command {}

    public sealed interface Result {}

    /** The timeline is here: journaled, and its WAL flushed up to {@code flushLsn}. */
    public record Copied(String donor, long term, Lsn flushLsn, Lsn commitLsn) implements Result {}

    public record CopyFailed(SqlState sqlState, String reason) implements Result {}

    /**
     * @param from the donor's wire address as HOST:PORT, or null to choose one
     * @param sockets connections to the donor's address
     */
    public static Behavior<Command> create(TenantTimelineId id, long nodeId, ActorRef<Timeline.Command> timeline,
                                           ActorRef<TimelineRegistry.Command> registry, RecoverySettings settings,
                                           Function<InetSocketAddress, SocketFactory> sockets, String from,
                                           ActorRef<Result> replyTo) {
        return Behaviors.setup(ctx -> {
            registry.tell(new TimelineRegistry.AskCluster(new ClusterTimelines.GetTimeline(id,
                    ctx.messageAdapter(ClusterTimelines.View.class, Peers::new))));
            return new Steps(ctx, id, nodeId, timeline, settings, sockets, from, replyTo).awaitingPeers();
        });
    }

    private static final class Steps {
        private final ActorContext<Command> ctx;
        private final TenantTimelineId id;
        private final long nodeId;
        private final ActorRef<Timeline.Command> timeline;
        private final RecoverySettings settings;
        private final Function<InetSocketAddress, SocketFactory> sockets;
        private final String from;
        private final ActorRef<Result> replyTo;

        Steps(ActorContext<Command> ctx, TenantTimelineId id, long nodeId, ActorRef<Timeline.Command> timeline,
              RecoverySettings settings, Function<InetSocketAddress, SocketFactory> sockets, String from,
              ActorRef<Result> replyTo) {
            this.ctx = ctx;
            this.id = id;
            this.nodeId = nodeId;
            this.timeline = timeline;
            this.settings = settings;
            this.sockets = sockets;
            this.from = from;
            this.replyTo = replyTo;
        }

        private Behavior<Command> fail(SqlState state, String reason) {
            ctx.getLog().warn("timeline {}: copy refused: {}", id, reason);
            replyTo.tell(new CopyFailed(state, reason));
            return Behaviors.stopped();
        }

        Behavior<Command> awaitingPeers() {
            return Behaviors.receive(Command.class).onMessage(Peers.class, peers -> {
                List<ClusterTimelines.MemberPositions> published = peers.view().positions().stream()
                        .filter(p -> p.id().equals(id)).toList();
                String donor;
                try {
                    donor = from != null ? from : CopyRule.chooseDonor(id, peers.view()).listen();
                } catch (CopyRule.Refused e) {
                    return fail(e.sqlState(), e.getMessage());
                }
                InetSocketAddress address;
                try {
                    address = PeerRecovery.parseListen(donor);
                } catch (IllegalArgumentException e) {
                    return fail(SqlState.INVALID_PARAMETER_VALUE, "donor address: " + e.getMessage());
                }
                ctx.getLog().info("timeline {}: copying from {}", id, donor);
                ctx.spawnAnonymous(TimelineStateClient.create(settings.user(), settings.password(), nodeId, id,
                        settings.handshakeTimeout(), ctx.messageAdapter(TimelineStateClient.Event.class,
                                FromStateClient::new), sockets.apply(address)));
                return awaitingState(donor, address, published);
            }).build();
        }

        private Behavior<Command> awaitingState(String donor, InetSocketAddress address,
                                                List<ClusterTimelines.MemberPositions> published) {
            return Behaviors.receive(Command.class).onMessage(FromStateClient.class, message -> {
                if (message.event() instanceof TimelineStateClient.Failed failed) {
                    return fail(failed.sqlState() == null ? SqlState.UNABLE_TO_CONNECT : SqlState.INTERNAL_ERROR,
                            "cannot get timeline " + id + " from " + donor + ": " + failed.reason()
                                    + (failed.sqlState() == null ? "" : " (" + failed.sqlState() + ")"));
                }
                TimelineSnapshot snapshot = ((TimelineStateClient.Answered) message.event()).snapshot();
                if (snapshot == null) {
                    return fail(SqlState.UNDEFINED_OBJECT, donor + " does not hold timeline " + id);
                }
                Acceptor.Copy copy;
                try {
                    copy = CopyRule.plan(snapshot, published);
                } catch (CopyRule.Refused e) {
                    return fail(e.sqlState(), donor + ": " + e.getMessage());
                }
                timeline.tell(new Timeline.InstallCopy(copy, ctx.messageAdapter(Timeline.CopyReply.class,
                        FromTimeline::new)));
                return installing(donor, address, copy);
            }).build();
        }

        private Behavior<Command> installing(String donor, InetSocketAddress address, Acceptor.Copy copy) {
            return Behaviors.receive(Command.class).onMessage(FromTimeline.class, message -> {
                if (message.reply() instanceof Timeline.CopyRefused refused) {
                    return fail(refused.present() ? SqlState.DUPLICATE_OBJECT : SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE,
                            refused.reason());
                }
                PeerRecoveryClient.Settings walSettings = new PeerRecoveryClient.Settings(settings.user(),
                        settings.password(), nodeId, id, copy.walTerm(), copy.localStartLsn(), copy.peerCommitLsn(),
                        settings.handshakeTimeout());
                ActorRef<PeerRecoveryClient.Command> client = ctx.spawnAnonymous(PeerRecoveryClient.create(walSettings,
                        timeline, ctx.messageAdapter(PeerRecoveryClient.Event.class, FromWalClient::new),
                        sockets.apply(address)));
                timeline.tell(new Timeline.WatchPositions(ctx.messageAdapter(Timeline.PositionsEvent.class, Local::new)));
                ctx.getLog().info("timeline {}: copying WAL of term {} from {}, from {} up to {}", id, copy.walTerm(),
                        donor, copy.localStartLsn(), copy.limit());
                return copyingWal(donor, copy, client,
                        new TransferProgress(copy.localStartLsn(), copy.limit(), System.nanoTime()));
            }).build();
        }

        private Behavior<Command> copyingWal(String donor, Acceptor.Copy copy,
                                             ActorRef<PeerRecoveryClient.Command> client, TransferProgress progress) {
            return Behaviors.receive(Command.class)
                    .onMessage(Local.class, message -> {
                        if (message.event() instanceof Timeline.Interrupted interrupted) {
                            client.tell(PeerRecoveryClient.Stop.INSTANCE);
                            return fail(SqlState.INTERNAL_ERROR, "timeline " + id + " was interrupted during the copy: "
                                    + interrupted.reason());
                        }
                        Timeline.Positions positions = (Timeline.Positions) message.event();
                        if (positions.flushLsn().compareTo(copy.limit()) < 0) {
                            progress.due(positions.flushLsn(), System.nanoTime()).ifPresent(line ->
                                    ctx.getLog().info("timeline {}: copying from {}: {}", id, donor, line));
                            return Behaviors.same();
                        }
                        client.tell(PeerRecoveryClient.Stop.INSTANCE);
                        ctx.getLog().info("timeline {}: copied from {} up to {} in term {}: {}", id, donor,
                                positions.flushLsn(), positions.term(), progress.summary(positions.flushLsn(), System.nanoTime()));
                        replyTo.tell(new Copied(donor, positions.term(), positions.flushLsn(), positions.commitLsn()));
                        return Behaviors.stopped();
                    })
                    .onMessage(FromWalClient.class, message -> {
                        if (message.event() instanceof PeerRecoveryClient.Failed failed) {
                            return fail(failed.sqlState() == null ? SqlState.CONNECTION_FAILURE : SqlState.INTERNAL_ERROR,
                                    "copying WAL of timeline " + id + " from " + donor + " stopped before " + copy.limit()
                                            + ": " + failed.reason() + " (the timeline stays, as a node behind; "
                                            + progress.summary(System.nanoTime()) + " copied)");
                        }
                        return Behaviors.same();
                    })
                    .build();
        }
    }
}
