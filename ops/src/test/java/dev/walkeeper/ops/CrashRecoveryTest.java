package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.testkit.FreePort;
import dev.walkeeper.testkit.RunningProcess;
import dev.walkeeper.testkit.TestProposer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node in its own JVM is killed with SIGKILL at random moments during a push, 20 times. After
 * every restart: the flush LSN is at least the last one acknowledged, the term at least the last
 * voted, the stored WAL up to the flush LSN is exactly what was sent, and the node accepts the
 * next term's push from there.
 */
class CrashRecoveryTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final WalFormat FORMAT = new WalFormat(150018, 7_300_000_000_000_000_002L, SEG, 1);
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("33333333333333333333333333333333",
            "44444444444444444444444444444444");
    private static final int ROUNDS = 20;
    private static final int CHUNK = 128 * 1024 - 512;
    private static final int MAX_APPENDS_PER_ROUND = 24;

    @TempDir
    Path dataDir;

    @TempDir
    Path logDir;

    @Test
    void killNineDuringPushNeverLosesAcknowledgedWalOrVotes() throws Exception {
        byte[] stream = generate(ROUNDS * MAX_APPENDS_PER_ROUND * CHUNK + CHUNK);
        Random random = new Random(20261125);
        int port = FreePort.find();
        Lsn lastAcked = Lsn.INVALID; // nothing is promised before the first AppendResponse
        long lastVoted = 0;
        for (int round = 0; round <= ROUNDS; round++) {
            try (RunningProcess node = startNode(port, round)) {
                try (TestProposer proposer = TestProposer.connect(new InetSocketAddress("127.0.0.1", port), ID,
                        "compute", null)) {
                    long term = proposer.greet(FORMAT.pgVersion(), FORMAT.systemId(), SEG).term();
                    assertTrue(term >= lastVoted, "round " + round + ": term " + term + " < voted " + lastVoted);
                    AcceptorMessage.VoteResponse vote = proposer.vote(term + 1);
                    assertTrue(vote.voteGiven());
                    lastVoted = term + 1;
                    // A node with no durable WAL reports none; a proposer then starts the timeline
                    // where its WAL begins (walproposer uses the basebackup LSN).
                    Lsn flush = vote.flushLsn().isValid() ? vote.flushLsn() : START;
                    assertTrue(flush.compareTo(lastAcked) >= 0,
                            "round " + round + ": flush " + flush + " below acknowledged " + lastAcked);
                    int flushed = (int) (flush.value() - START.value());
                    byte[] stored = WalPushTest.readWal(dataDir.resolve(ID.tenantId()).resolve(ID.timelineId()),
                            START, flush);
                    assertTrue(Arrays.equals(stream, 0, flushed, stored, 0, stored.length),
                            "round " + round + ": stored WAL up to the flush LSN is what was sent");
                    List<TermSwitch> history = new ArrayList<>(vote.history().entries());
                    history.add(new TermSwitch(lastVoted, flush));
                    proposer.elect(lastVoted, flush, new TermHistory(history));
                    if (round == ROUNDS) {
                        // The last restart only checks recovery and that a new term is accepted.
                        proposer.append(lastVoted, flush, Arrays.copyOfRange(stream,
                                (int) (flush.value() - START.value()), (int) (flush.value() - START.value()) + CHUNK), flush);
                        proposer.awaitFlush(flush.plus(CHUNK - 8192), Duration.ofSeconds(30));
                        break;
                    }
                    lastAcked = pushUntilKilled(proposer, node, stream, flush, lastVoted, lastAcked,
                            1 + random.nextInt(MAX_APPENDS_PER_ROUND));
                }
            }
        }
    }

    /** Pipelines appends from {@code from}; kills the node right after the {@code killAfter}-th. */
    private static Lsn pushUntilKilled(TestProposer proposer, RunningProcess node, byte[] stream, Lsn from, long term,
                                       Lsn acked, int killAfter) throws Exception {
        Lsn at = from;
        for (int i = 0; i < killAfter; i++) {
            int offset = (int) (at.value() - START.value());
            proposer.append(term, at, Arrays.copyOfRange(stream, offset, offset + CHUNK), acked);
            at = at.plus(CHUNK);
            acked = drainAcks(proposer, acked);
        }
        node.kill();
        // Acknowledgements the node sent before it died still count: read up to the close.
        while (true) {
            TestProposer.Received r = proposer.next(Duration.ofSeconds(30));
            if (r instanceof TestProposer.Closed) {
                return acked;
            }
            if (r instanceof TestProposer.Message m && m.message() instanceof AcceptorMessage.AppendResponse response) {
                acked = Lsn.max(acked, response.flushLsn());
            }
        }
    }

    /** The highest flush LSN acknowledged so far: only these count as promised. */
    private static Lsn drainAcks(TestProposer proposer, Lsn acked) {
        TestProposer.Received r;
        while ((r = proposer.poll()) != null) {
            if (r instanceof TestProposer.Message m && m.message() instanceof AcceptorMessage.AppendResponse response) {
                acked = Lsn.max(acked, response.flushLsn());
            }
        }
        return acked;
    }

    private RunningProcess startNode(int port, int round) {
        return WalkeeperProcesses.node(dataDir, port, 1, logDir.resolve("node-" + round + ".log"));
    }

    private static byte[] generate(int bytes) {
        WalGenerator generator = new WalGenerator(FORMAT, START, 700);
        ByteArrayOutputStream out = new ByteArrayOutputStream(bytes + 65536);
        while (out.size() < bytes) {
            out.writeBytes(generator.nextRecords(65536));
        }
        return out.toByteArray();
    }
}
