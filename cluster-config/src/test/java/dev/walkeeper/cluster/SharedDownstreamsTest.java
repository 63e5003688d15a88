package dev.walkeeper.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.ConfigFactory;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.timeline.RuntimeDownstreams;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two actor systems in this JVM form a cluster on loopback, each with its {@link SharedDownstreams}
 * over a probe standing in for its timeline registry: a downstream registered through one is told
 * to the other's timeline with that node's own password, refusals carry their SQLSTATE, a removal
 * through the other reaches both, and a registered timeline held on disk but not open is opened.
 */
class SharedDownstreamsTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");
    private static final RuntimeDownstreams.Registered ARCHIVE = new RuntimeDownstreams.Registered("archive", ID,
            "127.0.0.1", 5455, "pusher");

    @TempDir
    Path dir;

    private final List<ActorTestKit> kits = new ArrayList<>();

    private record Node(ActorTestKit kit, TestProbe<TimelineRegistry.Command> registry,
                        ActorRef<TimelineRegistry.TimelineStarted> timelines,
                        ActorRef<RuntimeDownstreams.Request> port) {
        RuntimeDownstreams.Reply ask(java.util.function.Function<ActorRef<RuntimeDownstreams.Reply>,
                RuntimeDownstreams.Request> request) {
            TestProbe<RuntimeDownstreams.Reply> reply = kit.createTestProbe();
            port.tell(request.apply(reply.ref()));
            return reply.receiveMessage(LIMIT);
        }
    }

    @AfterEach
    void shutdown() {
        kits.forEach(ActorTestKit::shutdownTestKit);
    }

    private Node start(long nodeId, String password, Set<TenantTimelineId> onDisk) {
        ActorTestKit kit = ActorTestKit.create("walkeeper", new ClusterSettings(true, "127.0.0.1", 0, null, List.of(),
                Duration.ofMillis(200), true).pekkoConfig(nodeId)
                .withFallback(ConfigFactory.parseString("pekko.cluster.distributed-data.notify-subscribers-interval = 100ms"))
                .withFallback(ConfigFactory.load()));
        kits.add(kit);
        TestProbe<TimelineRegistry.Command> registry = kit.createTestProbe();
        kit.spawn(SharedDownstreams.create(registry.ref(), Map.of("pusher", password), onDisk::contains,
                dir.resolve("node" + nodeId).resolve(NodeGuardian.DOWNSTREAMS_FILE)), "shared-downstreams");
        ActorRef<TimelineRegistry.TimelineStarted> timelines = null;
        ActorRef<RuntimeDownstreams.Request> port = null;
        for (int i = 0; i < 2; i++) {
            TimelineRegistry.Command command = registry.receiveMessage();
            if (command instanceof TimelineRegistry.WatchTimelines watch) {
                timelines = watch.subscriber();
            } else if (command instanceof TimelineRegistry.AttachDownstreams attach) {
                port = attach.downstreams();
            }
        }
        return new Node(kit, registry, timelines, port);
    }

    private static void join(Node node, Node seed) {
        Cluster.get(node.kit().system()).manager().tell(Join.create(Cluster.get(seed.kit().system()).selfMember().address()));
    }

    private static void awaitUp(Node node, int members) {
        node.kit().createTestProbe().awaitAssert(LIMIT, () -> {
            var all = StreamSupport.stream(Cluster.get(node.kit().system()).state().getMembers().spliterator(), false)
                    .toList();
            assertEquals(members, all.size(), all::toString);
            all.forEach(m -> assertEquals(MemberStatus.up(), m.status(), all::toString));
            return null;
        });
    }

    /** Waits until {@code timeline} is told exactly {@code downstreams}. */
    private static void awaitTold(TestProbe<Timeline.Command> timeline, List<PushReplicator.Downstream> downstreams) {
        timeline.fishForMessage(LIMIT, m -> m instanceof Timeline.RegisteredDownstreams told
                && told.downstreams().equals(downstreams) ? FishingOutcomes.complete() : FishingOutcomes.continueAndIgnore());
    }

    private static PushReplicator.Downstream archive(String password) {
        return new PushReplicator.Downstream(InetSocketAddress.createUnresolved("127.0.0.1", 5455), "pusher", password);
    }

    @Test
    void registeredThroughOneMemberToldToTheOthersTimelineAndRemovedThroughIt() {
        Node first = start(1, "first-secret", Set.of());
        join(first, first);
        Node second = start(2, "second-secret", Set.of());
        join(second, first);
        awaitUp(first, 2);
        awaitUp(second, 2);
        TestProbe<Timeline.Command> timeline = second.kit().createTestProbe();
        second.timelines().tell(new TimelineRegistry.TimelineStarted(ID, timeline.ref()));
        awaitTold(timeline, List.of());

        assertEquals(RuntimeDownstreams.Reply.ok(List.of(ARCHIVE)), first.ask(r -> new RuntimeDownstreams.Add(ARCHIVE, r)));
        // The second node pushes as pusher with its own password: none travels with the registration.
        awaitTold(timeline, List.of(archive("second-secret")));
        second.kit().createTestProbe().awaitAssert(LIMIT, () -> {
            assertEquals(List.of(ARCHIVE), second.ask(RuntimeDownstreams.GetAll::new).downstreams());
            return null;
        });

        RuntimeDownstreams.Reply sameName = second.ask(r -> new RuntimeDownstreams.Add(
                new RuntimeDownstreams.Registered("archive", ID, "10.1.1.1", 1, "u"), r));
        assertEquals(SqlState.DUPLICATE_OBJECT, sameName.errorState());
        RuntimeDownstreams.Reply sameAddress = second.ask(r -> new RuntimeDownstreams.Add(
                new RuntimeDownstreams.Registered("other", ID, "127.0.0.1", 5455, "u"), r));
        assertEquals(SqlState.DUPLICATE_OBJECT, sameAddress.errorState());

        assertEquals(RuntimeDownstreams.Reply.ok(List.of()), second.ask(r -> new RuntimeDownstreams.Remove("archive", r)));
        awaitTold(timeline, List.of());
        assertEquals(SqlState.UNDEFINED_OBJECT, second.ask(r -> new RuntimeDownstreams.Remove("archive", r)).errorState());
        first.kit().createTestProbe().awaitAssert(LIMIT, () -> {
            assertEquals(List.of(), first.ask(RuntimeDownstreams.GetAll::new).downstreams());
            return null;
        });
    }

    @Test
    void aRegisteredTimelineHeldOnDiskIsOpened() {
        Node only = start(1, "", Set.of(ID));
        join(only, only);
        awaitUp(only, 1);
        assertEquals(RuntimeDownstreams.Reply.ok(List.of(ARCHIVE)), only.ask(r -> new RuntimeDownstreams.Add(ARCHIVE, r)));
        assertEquals(ID, only.registry().expectMessageClass(TimelineRegistry.Get.class, LIMIT).id());
    }
}
