package dev.walkeeper.actors.timeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.walkeeper.actors.consensus.InMemoryWalStores;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.testkit.PersistenceTestKitPlugin;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.LoggerFactory;

/** The timeline actor around the acceptor: replies, group commit, restarts, takeover. */
class TimelineTest {
    private static final ActorTestKit testKit = createTestKit();

    /** The persistence testkit journal and a thread-pool timeline dispatcher: timeline tests share it. */
    static ActorTestKit createTestKit() {
        LoggerFactory.getILoggerFactory();
        return ActorTestKit.create(PersistenceTestKitPlugin.getInstance().config()
                .withFallback(ConfigFactory.parseString("""
                        walkeeper.timeline-dispatcher { type = Dispatcher, executor = "thread-pool-executor" }
                        """))
                .withFallback(ConfigFactory.load()));
    }

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static final Lsn START = Lsn.parse("0/1000028");
    private static int counter;

    private static TenantTimelineId newId() {
        return new TenantTimelineId("0123456789abcdef0123456789abcdef", String.format("%032x", ++counter));
    }

    /** A proposer connection: its self ref is watched, replies arrive on its probe. */
    private static final class Proposer {
        final TestProbe<Timeline.ProposerReply> replies;
        final TestProbe<Object> connection;

        Proposer() {
            this(testKit);
        }

        Proposer(ActorTestKit kit) {
            replies = kit.createTestProbe(Timeline.ProposerReply.class);
            connection = kit.createTestProbe(Object.class);
        }

        void send(ActorRef<Timeline.Command> timeline, ProposerMessage message) {
            timeline.tell(new Timeline.FromProposer(message, true, connection.ref(), replies.ref()));
        }

        /**
         * The reply to the message just sent, and its Processed: a reply that waits for the
         * journal may come after Processed.
         */
        <M extends AcceptorMessage> M reply(Class<M> type) {
            Timeline.Reply reply = null;
            boolean processed = false;
            while (reply == null || !processed) {
                Timeline.ProposerReply r = replies.receiveMessage();
                if (r instanceof Timeline.Processed) {
                    processed = true;
                } else {
                    reply = assertInstanceOf(Timeline.Reply.class, r);
                }
            }
            return assertInstanceOf(type, reply.message());
        }

        void processed() {
            replies.expectMessageClass(Timeline.Processed.class);
        }
    }

    private static ProposerGreeting greeting(TenantTimelineId id) {
        return new ProposerGreeting(id, MembershipConfiguration.EMPTY, 150018, 42, 16 * 1024 * 1024);
    }

    private static TermHistory history(long term) {
        return new TermHistory(List.of(new TermSwitch(term, START)));
    }

    private static AppendRequest append(long term, Lsn begin, int size) {
        return new AppendRequest(0, term, begin, begin.plus(size), Lsn.INVALID, Lsn.INVALID, ByteSlice.of(new byte[size]));
    }

    private static void elect(Proposer p, ActorRef<Timeline.Command> timeline, TenantTimelineId id, long term,
                              TermHistory history, Lsn start) {
        p.send(timeline, greeting(id));
        p.reply(AcceptorGreeting.class);
        p.send(timeline, new VoteRequest(0, term));
        assertTrue(p.reply(VoteResponse.class).voteGiven());
        p.send(timeline, new ProposerElected(0, term, start, history));
        p.processed();
    }

    @Test
    void appendsAreAcknowledgedByOneResponseAfterTheirFlush() {
        TenantTimelineId id = newId();
        InMemoryWalStores wal = new InMemoryWalStores();
        ActorRef<Timeline.Command> timeline = testKit.spawn(Timeline.create(id, 7, wal));
        Proposer p = new Proposer();
        elect(p, timeline, id, 1, history(1), START);

        Lsn at = START;
        for (int i = 0; i < 10; i++) {
            p.send(timeline, append(1, at, 100));
            at = at.plus(100);
        }
        Lsn end = at;
        // Every append is processed; AppendResponses carry flush LSNs that only grow, up to the end.
        int processed = 0;
        Lsn lastFlush = Lsn.INVALID;
        while (processed < 10 || !lastFlush.equals(end)) {
            Timeline.ProposerReply r = p.replies.receiveMessage();
            if (r instanceof Timeline.Processed) {
                processed++;
            } else {
                AppendResponse response = assertInstanceOf(AppendResponse.class, ((Timeline.Reply) r).message());
                assertTrue(response.flushLsn().compareTo(lastFlush) >= 0);
                lastFlush = response.flushLsn();
            }
        }
        assertTrue(wal.store(id).flushes() < 10, "fsyncs were batched: " + wal.store(id).flushes());
    }

    @Test
    void aRestartedTimelineRemembersItsVote() {
        TenantTimelineId id = newId();
        InMemoryWalStores wal = new InMemoryWalStores();
        ActorRef<Timeline.Command> timeline = testKit.spawn(Timeline.create(id, 7, wal));
        Proposer p = new Proposer();
        elect(p, timeline, id, 4, history(4), START);
        testKit.stop(timeline);

        ActorRef<Timeline.Command> restarted = testKit.spawn(Timeline.create(id, 7, wal.rebooted()));
        Proposer q = new Proposer();
        q.send(restarted, greeting(id));
        assertEquals(4, q.reply(AcceptorGreeting.class).term());
        q.send(restarted, new VoteRequest(0, 4));
        assertFalse(q.reply(VoteResponse.class).voteGiven());
        TestProbe<Timeline.Status> status = testKit.createTestProbe(Timeline.Status.class);
        restarted.tell(new Timeline.GetStatus(status.ref()));
        Timeline.Status s = status.receiveMessage();
        assertTrue(s.exists());
        assertEquals(4, s.term());
    }

    @Test
    void aNewlyElectedProposerSupersedesTheAttachedOne() {
        TenantTimelineId id = newId();
        ActorRef<Timeline.Command> timeline = testKit.spawn(Timeline.create(id, 7, new InMemoryWalStores()));
        Proposer first = new Proposer();
        elect(first, timeline, id, 1, history(1), START);
        Proposer second = new Proposer();
        elect(second, timeline, id, 2, new TermHistory(List.of(new TermSwitch(1, START), new TermSwitch(2, START))),
                START);
        assertEquals(2, first.replies.expectMessageClass(Timeline.Superseded.class).term());
        // The old proposer's appends now get our higher term, so it steps down.
        first.send(timeline, append(1, START, 8));
        assertEquals(2, first.reply(AppendResponse.class).term());
    }

    /**
     * On a cluster member the timeline pushes only with the role; one subscriber may watch both
     * its positions and its push progress (the shared timeline state's watcher does).
     */
    @Test
    void theReplicatorsRunOnlyWithThePushRoleAndItsProgressIsWatched() {
        TenantTimelineId id = newId();
        PushReplicator.Downstream downstream = new PushReplicator.Downstream(
                new java.net.InetSocketAddress("127.0.0.1", 1), "pusher", null);
        ActorRef<Timeline.Command> timeline = testKit.spawn(Timeline.create(id, 7, new InMemoryWalStores(),
                List.of(downstream), new java.util.concurrent.ConcurrentHashMap<>(), true));
        elect(new Proposer(), timeline, id, 1, history(1), START);
        TestProbe<Object> watcher = testKit.createTestProbe();
        timeline.tell(new Timeline.WatchPositions(watcher.getRef().narrow()));
        timeline.tell(new Timeline.WatchPush(watcher.getRef().narrow()));
        watcher.expectMessageClass(Timeline.Positions.class);
        List<ClusterTimelines.DownstreamPosition> unknown =
                List.of(new ClusterTimelines.DownstreamPosition("127.0.0.1:1", Lsn.INVALID));
        assertEquals(new Timeline.PushProgress(false, unknown), watcher.receiveMessage());
        assertTrue(consumers(timeline).pushers().isEmpty());

        timeline.tell(new Timeline.PushRole(true));
        assertEquals(new Timeline.PushProgress(true, unknown), watcher.receiveMessage());
        assertEquals(1, consumers(timeline).pushers().size());
        timeline.tell(new Timeline.PushRole(true)); // no change
        timeline.tell(new Timeline.PushRole(false));
        assertEquals(new Timeline.PushProgress(false, unknown), watcher.receiveMessage());
        assertTrue(consumers(timeline).pushers().isEmpty());
        // Taken again once the stopped replicator is gone.
        timeline.tell(new Timeline.PushRole(true));
        assertEquals(new Timeline.PushProgress(true, unknown), watcher.receiveMessage());
        watcher.expectNoMessage(java.time.Duration.ofMillis(200)); // no restart, no interruption
    }

    private Timeline.Consumers consumers(ActorRef<Timeline.Command> timeline) {
        TestProbe<Timeline.Consumers> reply = testKit.createTestProbe();
        timeline.tell(new Timeline.GetConsumers(reply.getRef()));
        return reply.receiveMessage();
    }

    @Test
    void ruleViolationsFailTheProposer() {
        TenantTimelineId id = newId();
        ActorRef<Timeline.Command> timeline = testKit.spawn(Timeline.create(id, 7, new InMemoryWalStores()));
        Proposer p = new Proposer();
        p.send(timeline, new VoteRequest(0, 1));
        assertFalse(p.replies.expectMessageClass(Timeline.Failed.class).silent());
        p.processed();
        p.send(timeline, greeting(id));
        p.reply(AcceptorGreeting.class);
        p.send(timeline, append(1, START, 8));
        assertTrue(p.replies.expectMessageClass(Timeline.Failed.class).reason().contains("before ProposerElected"));
    }

    @Test
    void statusOfAnUnknownTimelineSaysItDoesNotExist() {
        ActorRef<Timeline.Command> timeline = testKit.spawn(Timeline.create(newId(), 7, new InMemoryWalStores()));
        TestProbe<Timeline.Status> status = testKit.createTestProbe(Timeline.Status.class);
        timeline.tell(new Timeline.GetStatus(status.ref()));
        assertFalse(status.receiveMessage().exists());
    }

    @Test
    void appendsWrittenDuringASlowFsyncAreAcknowledgedTogetherAfterTheNextOne() throws InterruptedException {
        CountDownLatch fsyncStarted = new CountDownLatch(1);
        CountDownLatch fsyncReleased = new CountDownLatch(1);
        InMemoryWalStores wal = new InMemoryWalStores(() -> {
            fsyncStarted.countDown();
            try {
                fsyncReleased.await();
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
        });
        TenantTimelineId id = newId();
        ActorRef<Timeline.Command> timeline = testKit.spawn(Timeline.create(id, 7, wal));
        Proposer p = new Proposer();
        elect(p, timeline, id, 1, history(1), START);

        p.send(timeline, append(1, START, 100));
        p.processed();
        assertTrue(fsyncStarted.await(10, TimeUnit.SECONDS), "the first append's fsync started");
        // While it runs, the timeline goes on taking (and writing) appends.
        Lsn at = START.plus(100);
        for (int i = 0; i < 4; i++) {
            p.send(timeline, append(1, at, 100));
            at = at.plus(100);
            p.processed();
        }
        TestProbe<Timeline.Status> status = testKit.createTestProbe(Timeline.Status.class);
        timeline.tell(new Timeline.GetStatus(status.ref()));
        Lsn flushedBefore = status.receiveMessage().flushLsn();
        fsyncReleased.countDown(); // before asserting: a held fsync would hang the actor system's shutdown
        assertEquals(START, flushedBefore, "nothing reported flushed before the fsync");

        List<Lsn> acknowledged = new ArrayList<>();
        while (!at.equals(acknowledged.isEmpty() ? null : acknowledged.get(acknowledged.size() - 1))) {
            Timeline.Reply r = assertInstanceOf(Timeline.Reply.class, p.replies.receiveMessage());
            acknowledged.add(assertInstanceOf(AppendResponse.class, r.message()).flushLsn());
        }
        assertEquals(List.of(START.plus(100), at), acknowledged, "one response per fsync");
        assertEquals(2, wal.store(id).flushes(), "the four appends written meanwhile shared one fsync");
        p.replies.expectNoMessage(java.time.Duration.ofMillis(100));
    }

    /**
     * On a node the timeline runs on the I/O loop: with nothing else waiting there, its fsync runs
     * on that thread (no hand-off to the flusher and back); with flush-when-idle off, always in
     * the flusher on the blocking dispatcher.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void onAnIdleIoLoopTheFsyncRunsOnTheTimelinesThread(boolean flushWhenIdle) {
        ActorTestKit loopKit = ActorTestKit.create(PersistenceTestKitPlugin.getInstance().config()
                .withFallback(ConfigFactory.parseString("""
                        pekko.actor.default-dispatcher.executor = "dev.walkeeper.actors.socket.IoLoopExecutor"
                        pekko.actor.default-dispatcher.loops = 1
                        walkeeper.flush-when-idle = %s
                        """.formatted(flushWhenIdle)))
                .withFallback(ConfigFactory.load()));
        try {
            List<String> fsyncThreads = java.util.Collections.synchronizedList(new ArrayList<>());
            InMemoryWalStores wal = new InMemoryWalStores(() -> fsyncThreads.add(Thread.currentThread().getName()));
            TenantTimelineId id = newId();
            ActorRef<Timeline.Command> timeline = loopKit.spawn(Timeline.create(id, 7, wal), "timeline",
                    org.apache.pekko.actor.typed.DispatcherSelector.defaultDispatcher());
            Proposer p = new Proposer(loopKit);
            elect(p, timeline, id, 1, history(1), START);
            p.send(timeline, append(1, START, 100));
            assertEquals(START.plus(100), p.reply(AppendResponse.class).flushLsn());

            assertFalse(fsyncThreads.isEmpty(), "the append was fsynced before it was acknowledged");
            String thread = fsyncThreads.get(fsyncThreads.size() - 1);
            // The loop's threads are named by the system (TimelineTest-N), the flusher's by its dispatcher.
            assertEquals(!flushWhenIdle, thread.contains("blocking-io-dispatcher"), "fsync on " + thread);
        } finally {
            loopKit.shutdownTestKit();
        }
    }

    @Test
    void aFailedFsyncMakesTheTimelineUnavailable() {
        InMemoryWalStores wal = new InMemoryWalStores(() -> {
            throw new IOException("EIO (injected)");
        });
        TenantTimelineId id = newId();
        java.util.Map<TenantTimelineId, String> syncFailures = new java.util.concurrent.ConcurrentHashMap<>();
        ActorRef<Timeline.Command> timeline = testKit.spawn(Timeline.create(id, 7, wal, List.of(), syncFailures));
        Proposer p = new Proposer();
        elect(p, timeline, id, 1, history(1), START);
        TestProbe<Timeline.Status> status = testKit.createTestProbe(Timeline.Status.class);
        timeline.tell(new Timeline.GetStatus(status.ref()));
        assertNull(status.receiveMessage().unavailable());
        TestProbe<Timeline.PositionsEvent> puller = testKit.createTestProbe(Timeline.PositionsEvent.class);
        timeline.tell(new Timeline.WatchPositions(puller.ref()));
        puller.expectMessageClass(Timeline.Positions.class);

        p.send(timeline, append(1, START, 100));
        p.processed();
        Timeline.Failed failed = p.replies.expectMessageClass(Timeline.Failed.class);
        assertFalse(failed.silent());
        assertTrue(failed.reason().contains("unavailable"), failed.reason());
        assertTrue(puller.expectMessageClass(Timeline.Interrupted.class).reason().contains("unavailable"));
        timeline.tell(new Timeline.WatchPositions(puller.ref()));
        puller.expectMessageClass(Timeline.Interrupted.class);

        timeline.tell(new Timeline.GetStatus(status.ref()));
        Timeline.Status s = status.receiveMessage();
        assertTrue(s.isUnavailable(), "status says why: " + s);
        assertEquals(START, s.flushLsn(), "the failed fsync never counts as a flush");

        // Never retried: every proposer, old or new, is refused.
        Proposer q = new Proposer();
        q.send(timeline, greeting(id));
        assertTrue(q.replies.expectMessageClass(Timeline.Failed.class).reason().contains("unavailable"));
        q.processed();

        // Not even by a new actor for the timeline (a restart, or the registry's next one).
        testKit.stop(timeline);
        ActorRef<Timeline.Command> again = testKit.spawn(Timeline.create(id, 7, wal, List.of(), syncFailures));
        Proposer r = new Proposer();
        r.send(again, greeting(id));
        assertTrue(r.replies.expectMessageClass(Timeline.Failed.class).reason().contains("unavailable"));
        r.processed();
        again.tell(new Timeline.GetStatus(status.ref()));
        assertTrue(status.receiveMessage().isUnavailable());
    }

    /**
     * A timeline restarted by its supervisor keeps its ActorRef, so its clients' watches never
     * fire: it tells them itself (the attached proposer fails, position subscribers are
     * interrupted), and afterwards serves a new proposer from what was durable.
     */
    @Test
    void aRestartingTimelineTellsItsClients() {
        InMemoryWalStores wal = new InMemoryWalStores();
        TenantTimelineId id = newId();
        ActorRef<Timeline.Command> timeline = testKit.spawn(Behaviors.supervise(Timeline.create(id, 7, wal))
                .onFailure(SupervisorStrategy.restart()));
        Proposer p = new Proposer();
        elect(p, timeline, id, 1, history(1), START);
        p.send(timeline, append(1, START, 100));
        assertEquals(START.plus(100), p.reply(AppendResponse.class).flushLsn());
        TestProbe<Timeline.PositionsEvent> puller = testKit.createTestProbe(Timeline.PositionsEvent.class);
        timeline.tell(new Timeline.WatchPositions(puller.ref()));
        puller.expectMessageClass(Timeline.Positions.class);

        wal.failNextWrite(id, new IOException("EIO (injected, not an fsync)"));
        p.send(timeline, append(1, START.plus(100), 100));
        assertTrue(p.replies.expectMessageClass(Timeline.Failed.class).reason().contains("restarts"));
        assertTrue(puller.expectMessageClass(Timeline.Interrupted.class).reason().contains("restarts"));

        Proposer q = new Proposer();
        elect(q, timeline, id, 2, new TermHistory(List.of(new TermSwitch(1, START), new TermSwitch(2, START.plus(100)))),
                START.plus(100));
        q.send(timeline, append(2, START.plus(100), 100));
        assertEquals(START.plus(200), q.reply(AppendResponse.class).flushLsn());
    }
}
