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
     * What one member published about one of its timelines; {@code listen} is the member's wire
     * (PostgreSQL protocol) address as HOST:PORT, where peers fetch WAL from it (empty if unknown).
     */
    public record MemberPositions(TenantTimelineId id, String address, long nodeId, long term, long lastLogTerm,
                                  Lsn flushLsn, Lsn commitLsn, String listen) {
        public MemberPositions {
            listen = listen == null ? "" : listen;
        }

        /** Without a wire address (a member that publishes none). */
        public MemberPositions(TenantTimelineId id, String address, long nodeId, long term, long lastLogTerm,
                               Lsn flushLsn, Lsn commitLsn) {
            this(id, address, nodeId, term, lastLogTerm, flushLsn, commitLsn, "");
        }
    }

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
