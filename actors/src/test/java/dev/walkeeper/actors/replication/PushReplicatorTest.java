package dev.walkeeper.actors.replication;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.persistence.wal.SegmentedWalStore;
import dev.walkeeper.persistence.wal.WalReader;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.FaultProxy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.InvalidActorNameException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A replicator pushing WAL that a {@link SegmentedWalStore} holds to a {@link FakeDownstream} that
 * stores it with {@code ReceivedWalWriter}: only committed WAL, from where the downstream says, the
 * downstream's files byte-equal to the source at the end; backpressure against a stalled
 * downstream; and through a {@link FaultProxy}, cuts, delay, a silent partition and refusals,
 * after which the push resumes with no gap and no divergent duplicate.
 */
class PushReplicatorTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int SEG = 1 << 20;
    private static final int PAGE = WalFormat.XLOG_BLCKSZ;
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final Lsn SEG1 = new Lsn(SEG);
    /** The timeline starts mid-segment, as a real one does: the push starts at the segment's start. */
    private static final Lsn START = new Lsn(SEG + 2 * PAGE + 24 + 8 * 37);
    private static final TenantTimelineId TIMELINE =
            new TenantTimelineId("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");
    private static final PushReplicator.Tuning TUNING = PushReplicator.Tuning.DEFAULTS
            .withKeepalive(Duration.ofMillis(200), Duration.ofSeconds(3))
            .withBackoff(Duration.ofMillis(50), Duration.ofMillis(500))
            .withTimeouts(Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofSeconds(5));

    @TempDir
    Path root;
    private Path sourceDir;
    private Path downstreamDir;
    private PushReceivers receivers;
    private FakeDownstream downstream;
    private FaultProxy proxy;

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @BeforeEach
    void setUp() {
        sourceDir = root.resolve("source");
        downstreamDir = root.resolve("downstream");
        receivers = new PushReceivers(id -> downstreamDir, Duration.ofSeconds(5));
    }

    @AfterEach
    void tearDown() throws IOException {
        if (proxy != null) {
            proxy.close();
        }
        if (downstream != null) {
            downstream.close();
        }
        receivers.close();
    }

    // ---- the source ------------------------------------------------------------------------------

    /** Record ends of the WAL written to the source store, in order. */
    private List<Lsn> writeSource(int approxBytes, long seed) throws IOException {
        Random random = new Random(seed);
        WalGenerator generator = new WalGenerator(FORMAT, START, 0);
        List<Lsn> ends = new ArrayList<>();
        try (SegmentedWalStore store = SegmentedWalStore.open(sourceDir, FORMAT, Lsn.INVALID)) {
            store.initialize(START);
            while (generator.position().value() - START.value() < approxBytes) {
                Lsn from = generator.position();
                int kind = random.nextInt(100);
                int payload = kind < 70 ? random.nextInt(300) : kind < 97 ? random.nextInt(20_000)
                        : random.nextInt(200_000);
                store.write(from, ByteSlice.of(generator.nextRecord(payload)));
                ends.add(generator.position());
            }
            store.flush();
        }
        return ends;
    }

    private PushReplicator.Source source() {
        return new PushReplicator.Source(TIMELINE, FORMAT.systemId(), SEG, FORMAT.pgVersion(), sourceDir, 1);
    }

    private ActorRef<PushReplicator.Command> spawn(InetSocketAddress to, String password, Lsn commit,
                                                   PushReplicator.Tuning tuning) {
        // No name: the testkit's guardian may not have freed a stopped replicator's name yet.
        return testKit.spawn(PushReplicator.create(new PushReplicator.Downstream(to, "pusher", password), source(),
                commit, tuning));
    }

    // ---- observing -------------------------------------------------------------------------------

    private static PushReplicator.Status status(ActorRef<PushReplicator.Command> replicator) {
        TestProbe<PushReplicator.Status> probe = testKit.createTestProbe();
        replicator.tell(new PushReplicator.GetStatus(probe.getRef()));
        return probe.receiveMessage(Duration.ofSeconds(5));
    }

    private static PushReplicator.Status awaitFlush(ActorRef<PushReplicator.Command> replicator, Lsn lsn) {
        TestProbe<Object> probe = testKit.createTestProbe();
        return probe.awaitAssert(WAIT, Duration.ofMillis(20), () -> {
            PushReplicator.Status status = status(replicator);
            assertEquals(lsn, status.downstreamFlushLsn(), status.toString());
            return status;
        });
    }

    /** WAL bytes {@code [from, to)} of a directory of segment files (final or {@code .partial} names). */
    private static byte[] read(Path dir, Lsn from, Lsn to) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (WalReader reader = new WalReader(dir, SEG)) {
            for (Lsn at = from; at.compareTo(to) < 0; ) {
                byte[] chunk = reader.read(at, to, SEG);
                out.writeBytes(chunk);
                at = at.plus(chunk.length);
            }
        }
        return out.toByteArray();
    }

    /** The downstream holds exactly the source's WAL from the first segment's start to {@code end}. */
    private void assertDownstreamEqualsSource(Lsn end) throws IOException {
        assertArrayEquals(read(sourceDir, SEG1, end), read(downstreamDir, SEG1, end));
        assertTrue(downstream.errorCodes().stream().allMatch("55006"::equals), downstream.errorCodes().toString());
        try (Stream<Path> files = Files.list(downstreamDir)) {
            List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
            long lastSegment = end.segmentNumber(SEG) - (end.segmentOffset(SEG) == 0 ? 1 : 0);
            for (long segNo = 1; segNo < lastSegment; segNo++) {
                assertTrue(names.contains(XLogFileName.of(1, segNo, SEG)), names.toString());
            }
        }
    }

    // ---- tests -----------------------------------------------------------------------------------

    @Test
    void pushesOnlyCommittedWalAndTheDownstreamEndsUpWithTheSourceBytes() throws Exception {
        List<Lsn> ends = writeSource(2 * SEG + SEG / 2, 1);
        Lsn commit = ends.get(ends.size() / 2);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.SCRAM, "pusher", "pw", receivers);
        ActorRef<PushReplicator.Command> replicator = spawn(downstream.address(), "pw", commit, TUNING);

        PushReplicator.Status atCommit = awaitFlush(replicator, commit);
        // Never beyond the commit LSN it was told: the last byte sent ends exactly there.
        assertEquals(commit, downstream.maxDataEndLsn());
        assertEquals(commit.value(), downstream.maxWalEnd.get());
        assertTrue(atCommit.connected());
        assertEquals(commit, atCommit.sentLsn());
        assertEquals(commit, atCommit.commitLsn());
        assertEquals(0, atCommit.lagBytes());
        assertEquals(downstream.address(), atCommit.downstream());
        // The downstream had nothing: the push started at the oldest segment's start, not at START.
        assertEquals(commit.value() - SEG1.value(), downstream.walBytesReceived.get());

        replicator.tell(new PushReplicator.CommitAdvanced(end));
        PushReplicator.Status atEnd = awaitFlush(replicator, end);
        assertEquals(end, atEnd.sentLsn());
        assertEquals(end, downstream.maxDataEndLsn());
        assertDownstreamEqualsSource(end);
        assertEquals(0, atEnd.reconnects());

        TestProbe<PushReplicator.Drained> drained = testKit.createTestProbe();
        replicator.tell(new PushReplicator.Drain(drained.getRef()));
        assertEquals(new PushReplicator.Drained(true, end), drained.receiveMessage(WAIT));
        drained.expectTerminated(replicator, WAIT);
        assertEquals(1, downstream.copyDones.get());
        TestProbe<Object> probe = testKit.createTestProbe();
        probe.awaitAssert(WAIT, () -> {
            assertEquals(1, downstream.terminates.get());
            return null;
        });
    }

    @Test
    void aLowerCommitLsnIsIgnoredAndIdleConnectionsGetKeepalives() throws Exception {
        List<Lsn> ends = writeSource(SEG / 2, 2);
        Lsn commit = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        ActorRef<PushReplicator.Command> replicator = spawn(downstream.address(), null, commit, TUNING);
        awaitFlush(replicator, commit);
        replicator.tell(new PushReplicator.CommitAdvanced(ends.get(3)));
        TestProbe<Object> probe = testKit.createTestProbe();
        probe.awaitAssert(WAIT, () -> {
            assertTrue(downstream.keepalives.get() >= 3, "keepalives: " + downstream.keepalives.get());
            return null;
        });
        PushReplicator.Status status = status(replicator);
        assertEquals(commit, status.commitLsn());
        assertEquals(commit, downstream.maxDataEndLsn());
        assertTrue(status.connected());
        testKit.stop(replicator);
    }

    @Test
    void theNextPushResumesWhereTheDownstreamIsWithoutSendingAgain() throws Exception {
        List<Lsn> ends = writeSource(3 * SEG, 3);
        Lsn first = ends.get(ends.size() / 3);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        ActorRef<PushReplicator.Command> replicator = spawn(downstream.address(), null, first, TUNING);
        awaitFlush(replicator, first);
        TestProbe<PushReplicator.Drained> drained = testKit.createTestProbe();
        replicator.tell(new PushReplicator.Drain(drained.getRef()));
        assertTrue(drained.receiveMessage(WAIT).downstreamCaughtUp());
        drained.expectTerminated(replicator, WAIT);

        ActorRef<PushReplicator.Command> next = spawn(downstream.address(), null, end, TUNING);
        awaitFlush(next, end);
        // Every byte crossed the network once: the second push started at the downstream's end.
        assertEquals(end.value() - SEG1.value(), downstream.walBytesReceived.get());
        assertDownstreamEqualsSource(end);
        testKit.stop(next);
    }

    @Test
    void aStalledDownstreamStopsTheDiskReadsUntilItReadsAgain() throws Exception {
        // More than socket buffers can take (the send buffer grows to net.ipv4.tcp_wmem's 4 MiB by default).
        List<Lsn> ends = writeSource(20 * SEG, 4);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers, 64 * 1024);
        downstream.stalled = true;
        PushReplicator.Tuning patient = TUNING.withKeepalive(Duration.ofMillis(200), Duration.ofSeconds(60));
        ActorRef<PushReplicator.Command> replicator = spawn(downstream.address(), null, end, patient);

        // The sent position stops moving: no more chunks are read once the socket stopped taking them.
        long[] last = {-1};
        TestProbe<Object> probe = testKit.createTestProbe();
        PushReplicator.Status stuck = probe.awaitAssert(WAIT, Duration.ofMillis(300), () -> {
            PushReplicator.Status status = status(replicator);
            long sent = status.sentLsn().value();
            long previous = last[0];
            last[0] = sent;
            assertTrue(status.connected() && sent > SEG1.value() && sent == previous, status.toString());
            return status;
        });
        long read = stuck.sentLsn().value() - SEG1.value();
        // Reading stopped with most of the WAL unread: what was read is what the socket buffers hold.
        assertTrue(read < (end.value() - SEG1.value()) / 2, "read " + read + " bytes ahead of a stalled downstream");
        assertEquals(0, downstream.maxDataEnd.get(), "the stalled downstream read nothing");

        downstream.stalled = false;
        awaitFlush(replicator, end);
        assertDownstreamEqualsSource(end);
        assertEquals(end.value() - SEG1.value(), downstream.walBytesReceived.get());
        testKit.stop(replicator);
    }

    @Test
    void cutConnectionsAreReconnectedAndThePushResumesWithNoGap() throws Exception {
        List<Lsn> ends = writeSource(6 * SEG, 5);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.SCRAM, "pusher", "pw", receivers);
        proxy = FaultProxy.start(downstream.address());
        ActorRef<PushReplicator.Command> replicator = spawn(proxy.address(), "pw", ends.get(0), TUNING);
        awaitFlush(replicator, ends.get(0));
        // A little latency keeps WAL in flight long enough for each cut to land in the middle of it.
        proxy.delay(Duration.ofMillis(30));
        int cuts = 5;
        for (int step = 1; step <= cuts; step++) {
            int reconnectsBefore = status(replicator).reconnects();
            Lsn commit = ends.get(step * (ends.size() - 1) / (cuts + 1));
            replicator.tell(new PushReplicator.CommitAdvanced(commit));
            TestProbe<Object> probe = testKit.createTestProbe();
            probe.awaitAssert(WAIT, Duration.ofMillis(2), () -> {
                PushReplicator.Status status = status(replicator);
                assertTrue(status.reconnects() == reconnectsBefore && status.connected()
                        && status.sentLsn().compareTo(status.downstreamFlushLsn()) > 0, status.toString());
                return null;
            });
            proxy.cut();
            // The next step starts once the replicator noticed and is pushing on a new connection.
            probe.awaitAssert(WAIT, Duration.ofMillis(2), () -> {
                PushReplicator.Status status = status(replicator);
                assertTrue(status.reconnects() > reconnectsBefore && status.connected(), status.toString());
                return null;
            });
        }
        replicator.tell(new PushReplicator.CommitAdvanced(end));
        PushReplicator.Status status = awaitFlush(replicator, end);
        assertTrue(status.reconnects() >= cuts, status.toString()); // more if the downstream still held the old push
        assertTrue(proxy.connectionsAccepted() >= cuts + 1, "connections: " + proxy.connectionsAccepted());
        assertDownstreamEqualsSource(end);
        // What was in flight at a cut was sent again, from where the downstream said it was.
        assertTrue(downstream.walBytesReceived.get() >= end.value() - SEG1.value());
        testKit.stop(replicator);
    }

    @Test
    void aDelayedLinkSlowsThePushButLosesNothing() throws Exception {
        List<Lsn> ends = writeSource(3 * SEG, 6);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        proxy = FaultProxy.start(downstream.address());
        proxy.delay(Duration.ofMillis(150));
        ActorRef<PushReplicator.Command> replicator = spawn(proxy.address(), null, ends.get(ends.size() / 4), TUNING);
        awaitFlush(replicator, ends.get(ends.size() / 4));
        replicator.tell(new PushReplicator.CommitAdvanced(ends.get(ends.size() / 2)));
        replicator.tell(new PushReplicator.CommitAdvanced(end));
        PushReplicator.Status status = awaitFlush(replicator, end);
        assertEquals(0, status.reconnects(), status.toString());
        assertDownstreamEqualsSource(end);
        assertEquals(end.value() - SEG1.value(), downstream.walBytesReceived.get());
        proxy.delay(Duration.ZERO);
        testKit.stop(replicator);
    }

    @Test
    void aSilentPartitionIsDetectedAndThePushResumesOnceItHeals() throws Exception {
        List<Lsn> ends = writeSource(4 * SEG, 7);
        Lsn first = ends.get(ends.size() / 4);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        proxy = FaultProxy.start(downstream.address());
        PushReplicator.Tuning quick = TUNING.withKeepalive(Duration.ofMillis(200), Duration.ofSeconds(1));
        ActorRef<PushReplicator.Command> replicator = spawn(proxy.address(), null, first, quick);
        awaitFlush(replicator, first);

        proxy.blackHole(true);
        replicator.tell(new PushReplicator.CommitAdvanced(end));
        TestProbe<Object> probe = testKit.createTestProbe();
        PushReplicator.Status silent = probe.awaitAssert(WAIT, Duration.ofMillis(50), () -> {
            PushReplicator.Status status = status(replicator);
            assertTrue(status.reconnects() >= 1, status.toString());
            return status;
        });
        assertNotNull(silent.lastError());
        assertTrue(silent.lastError().contains("sent nothing for PT1S"), silent.lastError());
        assertTrue(silent.downstreamFlushLsn().compareTo(end) < 0);

        proxy.blackHole(false);
        awaitFlush(replicator, end);
        assertDownstreamEqualsSource(end);
        testKit.stop(replicator);
    }

    @Test
    void aRefusingDownstreamIsRetriedWithBackoffUntilItAccepts() throws Exception {
        List<Lsn> ends = writeSource(SEG, 8);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        proxy = FaultProxy.start(downstream.address());
        proxy.refuse(true);
        ActorRef<PushReplicator.Command> replicator = spawn(proxy.address(), null, end, TUNING);
        TestProbe<Object> probe = testKit.createTestProbe();
        PushReplicator.Status refused = probe.awaitAssert(WAIT, () -> {
            PushReplicator.Status status = status(replicator);
            assertTrue(status.reconnects() >= 3, status.toString());
            return status;
        });
        assertFalse(refused.connected());
        assertEquals(-1, refused.lagBytes());
        assertEquals(Lsn.INVALID, refused.sentLsn());
        assertNotNull(refused.lastError());
        proxy.refuse(false);
        awaitFlush(replicator, end);
        assertDownstreamEqualsSource(end);
        testKit.stop(replicator);
    }

    /**
     * A takeover, as when the cluster moves the push role: the first replicator is stopped
     * mid-stream (its node lost the role or died) while the next one starts at once. The next one
     * is refused (55006) until the first one's connection is gone, then resumes where the
     * downstream is: every byte crosses once, no gap; both report the downstream's durable LSN.
     */
    @Test
    void aReplicatorTakingOverResumesWhereTheDownstreamIsAndReportsItsProgress() throws Exception {
        List<Lsn> ends = writeSource(3 * SEG, 11);
        Lsn first = ends.get(ends.size() / 3);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        PushReplicator.Downstream to = new PushReplicator.Downstream(downstream.address(), "pusher", null);
        TestProbe<PushReplicator.DownstreamFlushed> progress = testKit.createTestProbe();
        ActorRef<PushReplicator.Command> old = testKit.spawn(PushReplicator.create(to, source(), first, TUNING,
                progress.getRef()));
        awaitFlush(old, first);
        Lsn reported = Lsn.INVALID;
        while (reported.compareTo(first) < 0) {
            PushReplicator.DownstreamFlushed flushed = progress.receiveMessage(WAIT);
            assertEquals(downstream.address(), flushed.downstream());
            assertTrue(flushed.flushLsn().compareTo(reported) > 0, "only higher LSNs are reported");
            reported = flushed.flushLsn();
        }

        testKit.stop(old);
        ActorRef<PushReplicator.Command> next = testKit.spawn(PushReplicator.create(to, source(), end, TUNING,
                progress.getRef()));
        awaitFlush(next, end);
        progress.fishForMessage(WAIT, f -> f.flushLsn().equals(end)
                ? org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.complete()
                : org.apache.pekko.actor.testkit.typed.javadsl.FishingOutcomes.continueAndIgnore());
        assertEquals(end.value() - SEG1.value(), downstream.walBytesReceived.get());
        assertDownstreamEqualsSource(end);
        testKit.stop(next);
    }

    @Test
    void aDownstreamHeldByAnotherPusherIsRetriedUntilItIsFree() throws Exception {
        List<Lsn> ends = writeSource(SEG / 2, 9);
        Lsn end = ends.get(ends.size() - 1);
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        PushReceivers.Lease other = receivers.acquire(TIMELINE, "walkeeper_2", SEG);
        ActorRef<PushReplicator.Command> replicator = spawn(downstream.address(), null, end, TUNING);
        TestProbe<Object> probe = testKit.createTestProbe();
        probe.awaitAssert(WAIT, () -> {
            PushReplicator.Status status = status(replicator);
            assertTrue(status.reconnects() >= 1 && status.lastError() != null
                    && status.lastError().contains("(55006)"), status.toString());
            return null;
        });
        other.close();
        awaitFlush(replicator, end);
        testKit.stop(replicator);
    }

    @Test
    void oneReplicatorPerDownstreamAndBackoffIsCappedExponential() throws IOException {
        writeSource(SEG / 4, 10);
        InetSocketAddress address = new InetSocketAddress("127.0.0.1", 1);
        assertEquals("push-127.0.0.1%3A1", PushReplicator.actorName(address));
        assertFalse(PushReplicator.actorName(address).equals(
                PushReplicator.actorName(new InetSocketAddress("127.0.0.1", 2))));
        // The name makes a second replicator for the same downstream under one parent impossible.
        TestProbe<Object> outcome = testKit.createTestProbe();
        testKit.spawn(Behaviors.setup(ctx -> {
            ctx.spawn(PushReplicator.create(new PushReplicator.Downstream(address, "pusher", null), source(),
                    Lsn.INVALID, TUNING), PushReplicator.actorName(address));
            try {
                ctx.spawn(PushReplicator.create(new PushReplicator.Downstream(address, "pusher", null), source(),
                        Lsn.INVALID, TUNING), PushReplicator.actorName(address));
                outcome.getRef().tell("spawned twice");
            } catch (InvalidActorNameException e) {
                outcome.getRef().tell(e);
            }
            return Behaviors.empty();
        }));
        assertInstanceOf(InvalidActorNameException.class, outcome.receiveMessage(WAIT));

        PushReplicator.Tuning tuning = PushReplicator.Tuning.DEFAULTS;
        assertEquals(Duration.ofMillis(100), tuning.backoff(0));
        assertEquals(Duration.ofMillis(200), tuning.backoff(1));
        assertEquals(Duration.ofMillis(6400), tuning.backoff(6));
        assertEquals(Duration.ofSeconds(10), tuning.backoff(7));
        assertEquals(Duration.ofSeconds(10), tuning.backoff(10_000));
    }
}
