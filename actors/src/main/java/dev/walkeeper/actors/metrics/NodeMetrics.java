package dev.walkeeper.actors.metrics;

import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;

/**
 * Where the actors report what a node's metrics count. The node supplies the implementation with
 * an {@link org.apache.pekko.actor.typed.ExtensionSetup} when it creates its actor system, so that
 * the actors need no metrics library; an actor system without one records nothing.
 */
public interface NodeMetrics extends Extension {

    /** Records nothing: the default of an actor system the node did not set up with metrics. */
    NodeMetrics NONE = new NodeMetrics() {
        @Override
        public TimelineMetrics timeline(TenantTimelineId id) {
            return TimelineMetrics.NONE;
        }

        @Override
        public void connections(int startingUp, int authenticated) {}
    };

    /**
     * The metrics of one timeline; taken once when the timeline starts and kept in a field, so
     * that recording on the commit path neither looks anything up nor allocates.
     */
    TimelineMetrics timeline(TenantTimelineId id);

    /**
     * The listener's admitted connections now: still in startup or authentication, and
     * authenticated (any role). Called by the listener on each change, never per message.
     */
    void connections(int startingUp, int authenticated);

    static NodeMetrics get(ActorSystem<?> system) {
        return Id.INSTANCE.apply(system);
    }

    /** One timeline's counters; called from its actor and its flusher. */
    interface TimelineMetrics {
        TimelineMetrics NONE = new TimelineMetrics() {
            @Override
            public void walWritten(long bytes) {}

            @Override
            public void flushed(long nanos) {}
        };

        /** An append's WAL was written to the timeline's store. */
        void walWritten(long bytes);

        /** A flush job (the fsync of the WAL written since the previous one) took {@code nanos}. */
        void flushed(long nanos);
    }

    final class Id extends ExtensionId<NodeMetrics> {
        public static final Id INSTANCE = new Id();

        private Id() {}

        @Override
        public NodeMetrics createExtension(ActorSystem<?> system) {
            return NONE;
        }
    }
}
