package dev.walkeeper.actors.timeline;

import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.util.List;
import java.util.Objects;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The port to the downstreams registered at runtime ({@code ADD_DOWNSTREAM}): kept in the
 * cluster's shared state by an implementation outside this module (cluster-config) and attached
 * to the {@link TimelineRegistry}; a node that is no cluster member has none and refuses them.
 */
public final class RuntimeDownstreams {
    private RuntimeDownstreams() {}

    /** A registered downstream: where one timeline's committed WAL goes, and as which user (no password). */
    public record Registered(String name, TenantTimelineId timeline, String host, int port, String user) {
        public Registered {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(timeline, "timeline");
            Objects.requireNonNull(host, "host");
            Objects.requireNonNull(user, "user");
        }

        /** {@code host:port}, as push progress and the status name downstreams. */
        public String address() {
            return host + ":" + port;
        }
    }

    /** What the implementation is asked; every answer is a {@link Reply}. */
    public sealed interface Request {
        ActorRef<Reply> replyTo();
    }

    /** Registers {@code downstream}: refused if its name, or its timeline and address, is registered. */
    public record Add(Registered downstream, ActorRef<Reply> replyTo) implements Request {}

    /** Forgets the downstream named {@code name}: refused if there is none. */
    public record Remove(String name, ActorRef<Reply> replyTo) implements Request {}

    public record GetAll(ActorRef<Reply> replyTo) implements Request {}

    /**
     * The downstreams registered after the request (sorted by name), or why it was refused:
     * {@code errorState} is null on success.
     */
    public record Reply(List<Registered> downstreams, SqlState errorState, String error) {
        public Reply {
            downstreams = List.copyOf(downstreams);
        }

        public static Reply ok(List<Registered> downstreams) {
            return new Reply(downstreams, null, null);
        }

        public static Reply refused(SqlState state, String error) {
            return new Reply(List.of(), state, error);
        }
    }
}
