package dev.walkeeper.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Three actor systems in this JVM form a cluster on loopback, each with its
 * {@link SharedTimelineState} and a stand-in timeline that holds the same WAL and lists one
 * downstream: exactly one node is told to push; when that node's actor system terminates, one of
 * the other two takes the role within the takeover bound, and the third stays quiet.
 */
class OnePusherTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);
    /** Failure detection (about 4 s with Pekko's defaults) or a graceful leave, plus gossip and a publish. */
    private static final Duration TAKEOVER = Duration.ofSeconds(10);
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");
    private static final Lsn AT = Lsn.parse("0/3000000");

    private final List<ActorTestKit> kits = new ArrayList<>();

    /** One member: its testkit, and whether its stand-in timeline was last told to push. */
    private record Node(ActorTestKit kit, AtomicBoolean pushing) {}

    @AfterEach
    void shutdown() {
        kits.forEach(ActorTestKit::shutdownTestKit);
    }

    /**
     * What the state actor sees of a real {@link Timeline}: positions on watch, and the push
     * progress on watch and after every change of role.
     */
    private static Behavior<Timeline.Command> timeline(AtomicBoolean pushing) {
        return Behaviors.setup(ctx -> {
            List<ActorRef<Timeline.PushProgress>> watchers = new ArrayList<>();
            return Behaviors.receiveMessage(command -> {
                if (command instanceof Timeline.WatchPositions watch) {
                    watch.subscriber().tell(new Timeline.Positions(2, 2, AT, AT));
                } else if (command instanceof Timeline.WatchPush watch) {
                    watchers.add(watch.subscriber());
                    watch.subscriber().tell(progress(pushing.get()));
                } else if (command instanceof Timeline.PushRole role && role.push() != pushing.get()) {
                    pushing.set(role.push());
                    watchers.forEach(w -> w.tell(progress(role.push())));
                }
                return Behaviors.same();
            });
        });
    }

    private static Timeline.PushProgress progress(boolean pushing) {
        return new Timeline.PushProgress(pushing, List.of(new ClusterTimelines.DownstreamPosition("127.0.0.1:5455",
                pushing ? AT : Lsn.INVALID)));
    }

    private Node start(long nodeId) {
        ActorTestKit kit = ActorTestKit.create("walkeeper", new ClusterSettings(true, "127.0.0.1", 0, List.of(),
                Duration.ofMillis(200)).pekkoConfig(nodeId)
                .withFallback(ConfigFactory.parseString("pekko.cluster.distributed-data.notify-subscribers-interval = 100ms"))
                .withFallback(ConfigFactory.load()));
        kits.add(kit);
        TestProbe<TimelineRegistry.Command> registry = kit.createTestProbe();
        kit.spawn(SharedTimelineState.create(registry.ref(), nodeId, Duration.ofMillis(200)), "shared-timeline-state");
        ActorRef<TimelineRegistry.TimelineStarted> timelines =
                registry.expectMessageClass(TimelineRegistry.WatchTimelines.class).subscriber();
        AtomicBoolean pushing = new AtomicBoolean();
        timelines.tell(new TimelineRegistry.TimelineStarted(ID, kit.spawn(timeline(pushing), "timeline")));
        return new Node(kit, pushing);
    }

    private static void join(Node node, Node seed) {
        Cluster.get(node.kit().system()).manager().tell(Join.create(Cluster.get(seed.kit().system()).selfMember().address()));
    }

    private static long pushers(List<Node> nodes) {
        return nodes.stream().filter(n -> n.pushing().get()).count();
    }

    @Test
    void exactlyOneNodePushesAndAnotherTakesOverWhenItsSystemTerminates() {
        Node first = start(1);
        join(first, first);
        List<Node> all = List.of(first, start(2), start(3));
        all.subList(1, 3).forEach(n -> join(n, first));
        for (Node node : all) {
            node.kit().createTestProbe().awaitAssert(LIMIT, () -> {
                var members = StreamSupport.stream(Cluster.get(node.kit().system()).state().getMembers().spliterator(),
                        false).toList();
                assertEquals(3, members.size(), members::toString);
                members.forEach(m -> assertEquals(MemberStatus.up(), m.status(), members::toString));
                return null;
            });
        }
        // Every node holds the same WAL: the lowest node id pushes, and it stays that way.
        first.kit().createTestProbe().awaitAssert(LIMIT, () -> {
            assertTrue(first.pushing().get());
            assertEquals(1, pushers(all));
            return null;
        });
        first.kit().createTestProbe().expectNoMessage(Duration.ofSeconds(2));
        assertEquals(1, pushers(all));
        assertTrue(first.pushing().get());

        long stoppedAt = System.nanoTime();
        first.kit().shutdownTestKit();
        List<Node> rest = all.subList(1, 3);
        rest.get(0).kit().createTestProbe().awaitAssert(TAKEOVER, Duration.ofMillis(50), () -> {
            assertEquals(1, pushers(rest));
            return null;
        });
        System.out.printf("pusher taken over %d ms after the first node's system terminated%n",
                (System.nanoTime() - stoppedAt) / 1_000_000);
        rest.get(0).kit().createTestProbe().expectNoMessage(Duration.ofSeconds(2));
        assertEquals(1, pushers(rest), "still exactly one pusher");
        assertTrue(rest.get(0).pushing().get(), "the lowest node id of the two left");
    }
}
