package dev.walkeeper.actors.timeline;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The port to the timeline state the cluster's members share (the broker role): what each member
 * last published about the timelines it holds. Implemented outside this module (cluster-config,
 * over Pekko Distributed Data) and attached to the {@link TimelineRegistry}, which answers alone,
 * with no members, on a node that is no cluster member.
 */
public final class ClusterTimelines {
    private ClusterTimelines() {}

    /** What the implementation is asked; every answer is a {@link View}. */
    public sealed interface Query {
        ActorRef<View> replyTo();
    }

    /** Every member's last published positions of timeline {@code id}. */
    public record GetTimeline(TenantTimelineId id, ActorRef<View> replyTo) implements Query {}

    /** The members and everything they published. */
    public record GetAll(ActorRef<View> replyTo) implements Query {}

    /**
     * A member as this node sees it: {@code status} is Pekko's member status lower-cased ("up",
     * "leaving", ...) or "unreachable"; {@code self} marks this node.
     */
    public record Member(String address, long nodeId, String status, boolean self) {}

    /**
     * What one member published about one of its timelines: its positions, whether it runs the
     * timeline's push replicators ({@code pusher}), per downstream it has (configured or
     * registered) the durable LSN it last heard from it ({@link Lsn#INVALID} when it never pushed there), and its
     * wire (PostgreSQL protocol) address {@code listen} as HOST:PORT, where peers fetch WAL from
     * it (empty if unknown), and the consumers reading the timeline from it.
     */
    public record MemberPositions(TenantTimelineId id, String address, long nodeId, long term, long lastLogTerm,
                                  Lsn flushLsn, Lsn commitLsn, boolean pusher, List<DownstreamPosition> downstreams,
                                  String listen, List<Consumer> consumers) {
        public MemberPositions {
            downstreams = List.copyOf(downstreams);
            listen = listen == null ? "" : listen;
            consumers = consumers == null ? List.of() : List.copyOf(consumers);
        }

        /** With no consumers. */
        public MemberPositions(TenantTimelineId id, String address, long nodeId, long term, long lastLogTerm,
                               Lsn flushLsn, Lsn commitLsn, boolean pusher, List<DownstreamPosition> downstreams,
                               String listen) {
            this(id, address, nodeId, term, lastLogTerm, flushLsn, commitLsn, pusher, downstreams, listen, List.of());
        }

        /** A member that pushes nowhere and publishes no wire address. */
        public MemberPositions(TenantTimelineId id, String address, long nodeId, long term, long lastLogTerm,
                               Lsn flushLsn, Lsn commitLsn) {
            this(id, address, nodeId, term, lastLogTerm, flushLsn, commitLsn, false, List.of(), "");
        }

        /** Without a wire address. */
        public MemberPositions(TenantTimelineId id, String address, long nodeId, long term, long lastLogTerm,
                               Lsn flushLsn, Lsn commitLsn, boolean pusher, List<DownstreamPosition> downstreams) {
            this(id, address, nodeId, term, lastLogTerm, flushLsn, commitLsn, pusher, downstreams, "");
        }

        /** A member that pushes nowhere. */
        public MemberPositions(TenantTimelineId id, String address, long nodeId, long term, long lastLogTerm,
                               Lsn flushLsn, Lsn commitLsn, String listen) {
            this(id, address, nodeId, term, lastLogTerm, flushLsn, commitLsn, false, List.of(), listen);
        }
    }

    /**
     * A consumer of a member's timeline: a pull client ({@code kind} "pull", {@code name} its
     * application_name and address) or a downstream the member pushes to ("push", {@code host:port}),
     * with the durable LSN it last reported.
     */
    public record Consumer(String name, String kind, Lsn flushLsn) {}

    /** A downstream ({@code host:port}) and the durable LSN it reported to this member's pusher. */
    public record DownstreamPosition(String downstream, Lsn flushLsn) {}

    /**
     * The answer: the members, and the positions they published (sorted by timeline, then
     * member), only those of current members.
     */
    public record View(List<Member> members, List<MemberPositions> positions) {
        public static final View NONE = new View(List.of(), List.of());

        public View {
            members = List.copyOf(members);
            positions = List.copyOf(positions);
        }
    }
}
