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
import java.util.Map;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.Leave;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Three actor systems in this JVM form a cluster on loopback, each with its
 * {@link SharedTimelineState} over a probe standing in for its timeline registry: what one node's
 * timeline reports is seen by the others, and a node's entries go when its timeline stops or it
 * leaves.
 */
class SharedTimelineStateTest {
    private static final Duration LIMIT = Duration.ofSeconds(30);
    private static final TenantTimelineId ID = new TenantTimelineId("0123456789abcdef0123456789abcdef",
            "fedcba9876543210fedcba9876543210");

    private final List<Node> nodes = new ArrayList<>();

    /** One member: its testkit, the state actor's subscription and its port, as the registry would get them. */
    private record Node(ActorTestKit kit, long nodeId, ActorRef<TimelineRegistry.TimelineStarted> timelines,
                        ActorRef<ClusterTimelines.Query> port) {
        String address() {
            return Cluster.get(kit.system()).selfMember().address().toString();
        }

        ClusterTimelines.View view(TenantTimelineId id) {
            TestProbe<ClusterTimelines.View> reply = kit.createTestProbe();
            port.tell(id == null ? new ClusterTimelines.GetAll(reply.ref())
                    : new ClusterTimelines.GetTimeline(id, reply.ref()));
            return reply.receiveMessage();
        }

        /** The replicated map as it is on this node, unfiltered. */
        Map<String, TimelineEntry> rawEntries() {
            TestProbe<Replicator.GetResponse<LWWMap<String, TimelineEntry>>> reply = kit.createTestProbe();
            DistributedData.get(kit.system()).replicator().tell(new Replicator.Get<>(SharedTimelineState.KEY,
                    Replicator.readLocal(), reply.ref()));
            Replicator.GetResponse<LWWMap<String, TimelineEntry>> response = reply.receiveMessage();
            if (response instanceof Replicator.GetSuccess<LWWMap<String, TimelineEntry>> success) {
                return success.get(SharedTimelineState.KEY).getEntries();
            }
            return Map.of();
        }
    }

    @AfterEach
    void shutdown() {
        nodes.forEach(n -> n.kit().shutdownTestKit());
    }

    private Node start(long nodeId) {
        ActorTestKit kit = ActorTestKit.create("walkeeper", new ClusterSettings(true, "127.0.0.1", 0, null, List.of(),
                Duration.ofMillis(200), true).pekkoConfig(nodeId)
                .withFallback(ConfigFactory.parseString("pekko.cluster.distributed-data.notify-subscribers-interval = 100ms"))
                .withFallback(ConfigFactory.load()));
        TestProbe<TimelineRegistry.Command> registry = kit.createTestProbe();
        kit.spawn(SharedTimelineState.create(registry.ref(), nodeId, Duration.ofMillis(200)), "shared-timeline-state");
        ActorRef<TimelineRegistry.TimelineStarted> timelines = null;
        ActorRef<ClusterTimelines.Query> port = null;
        for (int i = 0; i < 2; i++) {
            TimelineRegistry.Command command = registry.receiveMessage();
            if (command instanceof TimelineRegistry.WatchTimelines watch) {
                timelines = watch.subscriber();
            } else if (command instanceof TimelineRegistry.AttachCluster attach) {
                port = attach.cluster();
            }
        }
        Node node = new Node(kit, nodeId, timelines, port);
        nodes.add(node);
        return node;
    }

    /** Three members, all up as every one of them sees it. */
    private List<Node> cluster() {
        Node first = start(1);
        Cluster.get(first.kit().system()).manager().tell(Join.create(Cluster.get(first.kit().system()).selfMember().address()));
        List<Node> all = List.of(first, start(2), start(3));
        for (Node node : all.subList(1, 3)) {
            Cluster.get(node.kit().system()).manager().tell(Join.create(Cluster.get(first.kit().system()).selfMember().address()));
        }
        for (Node node : all) {
            node.kit().createTestProbe().awaitAssert(LIMIT, () -> {
                var members = StreamSupport.stream(Cluster.get(node.kit().system()).state().getMembers().spliterator(), false)
                        .toList();
                assertEquals(3, members.size(), members::toString);
                members.forEach(m -> assertEquals(MemberStatus.up(), m.status(), members::toString));
                return null;
            });
        }
        return all;
    }

    /** A timeline actor stand-in on {@code node}: the state actor's watcher subscribes to it. */
    private static ActorRef<Timeline.PositionsEvent> timeline(Node node, TestProbe<Timeline.Command> timeline) {
        node.timelines().tell(new TimelineRegistry.TimelineStarted(ID, timeline.ref()));
        return timeline.expectMessageClass(Timeline.WatchPositions.class).subscriber();
    }

    private static ClusterTimelines.MemberPositions positions(Node node, long term, String flush, String commit) {
        return new ClusterTimelines.MemberPositions(ID, node.address(), node.nodeId(), term, term, Lsn.parse(flush),
                Lsn.parse(commit));
    }

    @Test
    void positionsPublishedOnOneMemberAreSeenOnTheOthersWithTheMembers() {
        List<Node> all = cluster();
        Node first = all.get(0);
        TestProbe<Timeline.Command> timeline = first.kit().createTestProbe();
        ActorRef<Timeline.PositionsEvent> subscriber = timeline(first, timeline);

        // A burst faster than the publish interval: the last positions are what the others end up with.
        subscriber.tell(new Timeline.Positions(3, 3, Lsn.parse("0/1000000"), Lsn.parse("0/1000000")));
        subscriber.tell(new Timeline.Positions(3, 3, Lsn.parse("0/2000000"), Lsn.parse("0/1000000")));
        subscriber.tell(new Timeline.Positions(3, 3, Lsn.parse("0/3000000"), Lsn.parse("0/2000000")));

        for (Node other : all.subList(1, 3)) {
            other.kit().createTestProbe().awaitAssert(LIMIT, () -> {
                ClusterTimelines.View view = other.view(ID);
                assertEquals(List.of(positions(first, 3, "0/3000000", "0/2000000")), view.positions());
                assertEquals(3, view.members().size(), view::toString);
                return null;
            });
        }
        ClusterTimelines.View view = all.get(1).view(null);
        assertEquals(List.of(1L, 2L, 3L), view.members().stream().map(ClusterTimelines.Member::nodeId).sorted().toList());
        assertEquals(List.of(all.get(1).address()),
                view.members().stream().filter(ClusterTimelines.Member::self).map(ClusterTimelines.Member::address).toList());
        assertTrue(view.members().stream().allMatch(m -> m.status().equals("up")), view::toString);
    }

    @Test
    void aMembersEntriesGoWhenItsTimelineStopsAndWhenItLeaves() {
        List<Node> all = cluster();
        Node second = all.get(1);
        Node third = all.get(2);
        TestProbe<Timeline.Command> secondTimeline = second.kit().createTestProbe();
        TestProbe<Timeline.Command> thirdTimeline = third.kit().createTestProbe();
        timeline(second, secondTimeline).tell(new Timeline.Positions(2, 2, Lsn.parse("0/2000000"), Lsn.parse("0/2000000")));
        timeline(third, thirdTimeline).tell(new Timeline.Positions(2, 2, Lsn.parse("0/3000000"), Lsn.parse("0/2000000")));
        Node first = all.get(0);
        first.kit().createTestProbe().awaitAssert(LIMIT, () -> {
            assertEquals(List.of(positions(second, 2, "0/2000000", "0/2000000"),
                    positions(third, 2, "0/3000000", "0/2000000")), first.view(ID).positions());
            return null;
        });

        // The timeline actor stops: its node takes its entry back.
        secondTimeline.stop();
        first.kit().createTestProbe().awaitAssert(LIMIT, () -> {
            assertEquals(List.of(positions(third, 2, "0/3000000", "0/2000000")), first.view(ID).positions());
            assertEquals(1, first.rawEntries().size(), () -> first.rawEntries().toString());
            return null;
        });

        // The third node leaves: once it is removed, its entries are gone from the map itself.
        Cluster.get(third.kit().system()).manager().tell(Leave.create(Cluster.get(third.kit().system()).selfMember().address()));
        for (Node remaining : all.subList(0, 2)) {
            remaining.kit().createTestProbe().awaitAssert(LIMIT, () -> {
                assertEquals(Map.of(), remaining.rawEntries());
                ClusterTimelines.View view = remaining.view(ID);
                assertEquals(List.of(), view.positions());
                assertEquals(2, view.members().size(), view::toString);
                return null;
            });
        }
    }

    @Test
    void aTimelinesPullConsumersArePublishedWithItsPositions() {
        Node only = start(1);
        Cluster.get(only.kit().system()).manager().tell(Join.create(Cluster.get(only.kit().system()).selfMember().address()));
        TestProbe<Timeline.Command> timeline = only.kit().createTestProbe();
        timeline(only, timeline).tell(new Timeline.Positions(1, 1, Lsn.parse("0/3000000"), Lsn.parse("0/3000000")));
        // The watcher asks for the consumers (once a second); the stand-in answers with one pull client.
        ActorRef<Timeline.Consumers> replyTo = timeline.fishForMessage(LIMIT, m -> m instanceof Timeline.GetConsumers
                ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
                : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore())
                .stream().map(m -> ((Timeline.GetConsumers) m).replyTo()).findFirst().orElseThrow();
        replyTo.tell(new Timeline.Consumers(List.of(new Timeline.WalConsumer("c1", "pull", "pg_receivewal 127.0.0.1:5000",
                Lsn.parse("0/3000000"), Lsn.parse("0/2000000"), Lsn.parse("0/1000000"))), List.of(), Lsn.parse("0/3000000")));
        only.kit().createTestProbe().awaitAssert(LIMIT, () -> {
            List<ClusterTimelines.MemberPositions> positions = only.view(ID).positions();
            assertEquals(1, positions.size(), positions::toString);
            assertEquals(List.of(new ClusterTimelines.Consumer("pg_receivewal 127.0.0.1:5000", "pull",
                    Lsn.parse("0/2000000"))), positions.get(0).consumers());
            return null;
        });
    }
}
