package dev.walkeeper.actors.timeline;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.walkeeper.actors.consensus.InMemoryWalStores;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** What the registry tells about its timelines, and how it routes questions to the cluster's shared state. */
class TimelineRegistryTest {
    private static final ActorTestKit testKit = TimelineTest.createTestKit();
    private static int counter;

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static TenantTimelineId newId() {
        return new TenantTimelineId("fedcba9876543210fedcba9876543210", String.format("%032x", ++counter));
    }

    private static ActorRef<Timeline.Command> get(ActorRef<TimelineRegistry.Command> registry, TenantTimelineId id) {
        TestProbe<ActorRef<Timeline.Command>> reply = testKit.createTestProbe();
        registry.tell(new TimelineRegistry.Get(id, reply.ref()));
        return reply.receiveMessage();
    }

    @Test
    void aSubscriberHearsOfTheTimelinesThereAreAndOfEveryLaterOneOnce() {
        ActorRef<TimelineRegistry.Command> registry = testKit.spawn(TimelineRegistry.create(1, new InMemoryWalStores()));
        TenantTimelineId first = newId();
        TenantTimelineId second = newId();
        ActorRef<Timeline.Command> firstRef = get(registry, first);

        TestProbe<TimelineRegistry.TimelineStarted> subscriber = testKit.createTestProbe();
        registry.tell(new TimelineRegistry.WatchTimelines(subscriber.ref()));
        registry.tell(new TimelineRegistry.WatchTimelines(subscriber.ref()));
        assertEquals(new TimelineRegistry.TimelineStarted(first, firstRef), subscriber.receiveMessage());

        ActorRef<Timeline.Command> secondRef = get(registry, second);
        get(registry, first); // known already: no news
        assertEquals(new TimelineRegistry.TimelineStarted(second, secondRef), subscriber.receiveMessage());
        subscriber.expectNoMessage();
    }

    @Test
    void clusterQuestionsGoToTheAttachedStateAndAreAnsweredWithNoMembersBefore() {
        ActorRef<TimelineRegistry.Command> registry = testKit.spawn(TimelineRegistry.create(1, new InMemoryWalStores()));
        TestProbe<ClusterTimelines.View> reply = testKit.createTestProbe();
        TenantTimelineId id = newId();

        registry.tell(new TimelineRegistry.AskCluster(new ClusterTimelines.GetTimeline(id, reply.ref())));
        assertEquals(ClusterTimelines.View.NONE, reply.receiveMessage());

        TestProbe<ClusterTimelines.Query> cluster = testKit.createTestProbe();
        registry.tell(new TimelineRegistry.AttachCluster(cluster.ref()));
        ClusterTimelines.Query all = new ClusterTimelines.GetAll(reply.ref());
        registry.tell(new TimelineRegistry.AskCluster(all));
        assertEquals(all, cluster.receiveMessage());
        reply.expectNoMessage();
    }
}
