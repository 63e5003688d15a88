package dev.walkeeper.actors.recovery;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.connection.AuthPolicy;
import dev.walkeeper.actors.connection.ConnectionSettings;
import dev.walkeeper.actors.connection.Listener;
import dev.walkeeper.actors.consensus.ServerInfo;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.actors.timeline.WalStores;
import dev.walkeeper.persistence.wal.FileSync;
import dev.walkeeper.persistence.wal.SegmentedWalStore;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.persistence.testkit.PersistenceTestKitPlugin;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Peer recovery between two in-process nodes, each its own actor system (journal) and WAL
 * directory: the donor serves its timeline through a real {@link Listener}, the lagging node's
 * {@link PeerRecovery} learns the donor's positions from a stub of the cluster's shared state,
 * streams the missing WAL with {@code START_REPLICATION ... (term='1')} and writes it through its
 * timeline; at the end both hold the same segment bytes, and the commit LSN followed.
 */
class PeerRecoveryTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static final int SEG = 1 << 20;
    private static final WalFormat FORMAT = new WalFormat(150018, 42, SEG, 1);
    /** The first record of segment 1, after its long page header. */
    private static final Lsn START = new Lsn(SEG + 40);
    private static final TenantTimelineId ID =
            new TenantTimelineId("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");
    private static final ConnectionSettings CONNECTIONS = new ConnectionSettings(Duration.ofSeconds(10),
            Duration.ofSeconds(5), FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE, "15.0", 42, SEG,
            AuthPolicy.loopbackTrustOnly());

    @TempDir
    Path root;
    private final List<ActorTestKit> kits = new ArrayList<>();

    @AfterEach
    void shutdown() {
        kits.forEach(ActorTestKit::shutdownTestKit);
    }

    private ActorTestKit kit() {
        ActorTestKit kit = TestKits.create(PersistenceTestKitPlugin.getInstance().config()
                .withFallback(ConfigFactory.parseString(
                        "walkeeper.timeline-dispatcher { type = Dispatcher, executor = \"thread-pool-executor\" }")));
        kits.add(kit);
        return kit;
    }

    private static WalStores files(Path dir) {
        return new WalStores() {
            @Override
            public WalStore open(TenantTimelineId id, ServerInfo server, Lsn scanFrom,
                                 java.util.concurrent.Executor background) throws IOException {
                return SegmentedWalStore.open(directory(id), new WalFormat(server.pgVersion(), server.systemId(),
                        server.walSegSize(), 1), scanFrom, FileSync.FORCE, background);
            }

            @Override
            public Path directory(TenantTimelineId id) {
                return dir.resolve(id.tenantId()).resolve(id.timelineId());
            }
        };
    }

    /** Plays the proposer of term 1 towards one timeline. */
    private static final class Feeder {
        final TestProbe<Timeline.ProposerReply> replies;
        final TestProbe<Object> connection;
        final ActorRef<Timeline.Command> timeline;

        Feeder(ActorTestKit kit, ActorRef<Timeline.Command> timeline) {
            this.replies = kit.createTestProbe(Timeline.ProposerReply.class);
            this.connection = kit.createTestProbe(Object.class);
            this.timeline = timeline;
        }

        void send(ProposerMessage message) {
            timeline.tell(new Timeline.FromProposer(message, true, connection.ref(), replies.ref()));
        }

        void electInTermOne() {
            send(new ProposerGreeting(ID, MembershipConfiguration.EMPTY, FORMAT.pgVersion(), FORMAT.systemId(), SEG));
            send(new VoteRequest(0, 1));
            send(new ProposerElected(0, 1, START, new TermHistory(List.of(new TermSwitch(1, START)))));
        }

        /** Appends the chunks (with {@code commit}) and waits until they are flushed. */
        void append(List<byte[]> chunks, Lsn from, Lsn commit) {
            Lsn at = from;
            for (byte[] chunk : chunks) {
                send(new AppendRequest(0, 1, at, at.plus(chunk.length), commit, Lsn.INVALID, ByteSlice.of(chunk)));
                at = at.plus(chunk.length);
            }
            while (true) {
                Timeline.ProposerReply reply = replies.receiveMessage(WAIT);
                assertTrue(!(reply instanceof Timeline.Failed), reply.toString());
                if (reply instanceof Timeline.Reply r && r.message() instanceof AppendResponse response
                        && response.flushLsn().equals(at)) {
                    return;
                }
            }
        }
    }

    /** Whole records, in chunks of at most 128 KiB as a proposer sends them. */
    private static List<byte[]> generateWal(int approxBytes) {
        Random random = new Random(11);
        WalGenerator generator = new WalGenerator(FORMAT, START, 0);
        List<byte[]> chunks = new ArrayList<>();
        ByteArrayOutputStream chunk = new ByteArrayOutputStream();
        while (generator.position().value() - START.value() < approxBytes) {
            byte[] record = generator.nextRecord(random.nextInt(100) < 80 ? random.nextInt(400) : random.nextInt(30_000));
            if (chunk.size() + record.length > 128 * 1024) {
                chunks.add(chunk.toByteArray());
                chunk.reset();
            }
            chunk.writeBytes(record);
        }
        chunks.add(chunk.toByteArray());
        return chunks;
    }

    private static Lsn end(Lsn from, List<byte[]> chunks) {
        return from.plus(chunks.stream().mapToLong(c -> c.length).sum());
    }

    @Test
    void aLaggingTimelineFetchesTheMissingWalFromItsPeerAndEndsWithTheSameSegments() throws IOException {
        List<byte[]> wal = generateWal(3 * SEG + SEG / 3);
        List<byte[]> shared = wal.subList(0, 2);
        Lsn sharedEnd = end(START, shared);
        Lsn donorEnd = end(START, wal);
        Lsn donorCommit = end(START, wal.subList(0, wal.size() - 3));

        // The donor: all the WAL, committed up to donorCommit, served on a real listener.
        ActorTestKit donorKit = kit();
        ActorRef<TimelineRegistry.Command> donorRegistry = donorKit.spawn(
                TimelineRegistry.create(1, files(root.resolve("donor"))));
        TestProbe<ActorRef<Timeline.Command>> got = donorKit.createTestProbe();
        donorRegistry.tell(new TimelineRegistry.Get(ID, got.ref()));
        Feeder donor = new Feeder(donorKit, got.receiveMessage());
        donor.electInTermOne();
        donor.append(wal, START, donorCommit);
        TestProbe<Listener.BindResult> bound = donorKit.createTestProbe();
        donorKit.spawn(Listener.create("127.0.0.1", 0, Listener.tcpConnections(CONNECTIONS, donorRegistry),
                bound.ref()));
        InetSocketAddress address = assertInstanceOf(Listener.Bound.class, bound.receiveMessage(WAIT)).address();

        // The lagging node: elected in the same term, it holds only the first chunks.
        ActorTestKit laggingKit = kit();
        WalStores laggingFiles = files(root.resolve("lagging"));
        ActorRef<Timeline.Command> lagging = laggingKit.spawn(Timeline.create(ID, 2, laggingFiles));
        Feeder proposer = new Feeder(laggingKit, lagging);
        proposer.electInTermOne();
        proposer.append(shared, START, Lsn.INVALID);

        // The shared state as the cluster would publish it: the donor, of our term, and its address.
        ClusterTimelines.View view = new ClusterTimelines.View(
                List.of(new ClusterTimelines.Member("pekko://walkeeper@127.0.0.1:2552", 2, "up", true),
                        new ClusterTimelines.Member("pekko://walkeeper@127.0.0.1:2551", 1, "up", false)),
                List.of(new ClusterTimelines.MemberPositions(ID, "pekko://walkeeper@127.0.0.1:2552", 2, 1, 1,
                                sharedEnd, Lsn.INVALID, "127.0.0.1:1"),
                        new ClusterTimelines.MemberPositions(ID, "pekko://walkeeper@127.0.0.1:2551", 1, 1, 1,
                                donorEnd, donorCommit, "127.0.0.1:" + address.getPort())));
        ActorRef<TimelineRegistry.Command> cluster = laggingKit.spawn(Behaviors.receive(TimelineRegistry.Command.class)
                .onMessage(TimelineRegistry.AskCluster.class, ask -> {
                    ask.query().replyTo().tell(view);
                    return Behaviors.same();
                })
                .build());
        TestProbe<Timeline.PositionsEvent> positions = laggingKit.createTestProbe();
        lagging.tell(new Timeline.WatchPositions(positions.ref()));
        assertEquals(sharedEnd, ((Timeline.Positions) positions.receiveMessage(WAIT)).flushLsn());

        RecoverySettings settings = new RecoverySettings(true, Duration.ofMillis(100), 0, "walkeeper", null,
                Duration.ofSeconds(5));
        laggingKit.spawn(PeerRecovery.create(ID, 2, lagging, cluster, settings, PeerRecovery.tcp(settings)));

        Timeline.Positions last;
        do {
            last = assertInstanceOf(Timeline.Positions.class, positions.receiveMessage(WAIT));
            assertTrue(last.commitLsn().compareTo(last.flushLsn()) <= 0, "commit never beyond our flush: " + last);
        } while (last.flushLsn().compareTo(donorEnd) < 0);
        assertEquals(donorEnd, last.flushLsn());
        assertEquals(1, last.term());
        assertEquals(1, last.lastLogTerm());
        while (!last.commitLsn().equals(donorCommit)) {
            last = assertInstanceOf(Timeline.Positions.class, positions.receiveMessage(WAIT));
        }

        Path donorDir = files(root.resolve("donor")).directory(ID);
        Path laggingDir = laggingFiles.directory(ID);
        assertArrayEquals(segmentBytes(donorDir, donorEnd), segmentBytes(laggingDir, donorEnd),
                "the recovered WAL equals the donor's, segment headers included");
    }

    /** The bytes of every segment from START's up to {@code end}, from final or .partial files. */
    private static byte[] segmentBytes(Path dir, Lsn end) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        long first = START.value() / SEG;
        long last = (end.value() - 1) / SEG;
        for (long segNo = first; segNo <= last; segNo++) {
            String name = XLogFileName.of(1, segNo, SEG);
            Path file = Files.exists(dir.resolve(name)) ? dir.resolve(name)
                    : dir.resolve(name + XLogFileName.PARTIAL_SUFFIX);
            byte[] bytes = Files.readAllBytes(file);
            int length = segNo == last ? (int) (end.value() - segNo * SEG) : SEG;
            out.write(bytes, 0, length);
        }
        return out.toByteArray();
    }
}
