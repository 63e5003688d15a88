package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.TestProposer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.Address;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Downstreams registered at runtime ({@code walkeeper downstream add|remove|list}, i.e.
 * ADD_DOWNSTREAM, REMOVE_DOWNSTREAM, LIST_DOWNSTREAMS) against in-process nodes and an in-process
 * {@code receive} node: pushed to byte for byte once added, no longer once removed; kept by the
 * cluster when the node asked is gone, and across a restart, after which the node pushes without
 * a proposer (as it does to a configured downstream).
 */
class RuntimeDownstreamTest {
    private static final int SEG = 1024 * 1024;
    private static final WalFormat FORMAT = new WalFormat(150018, 7_300_000_000_000_000_011L, SEG, 1);
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("77777777777777777777777777777777",
            "88888888888888888888888888888888");
    private static final String TIMELINE = ID.tenantId() + "/" + ID.timelineId();
    private static final Duration LIMIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private static String pg(WalkeeperNode node) {
        return "127.0.0.1:" + node.address().getPort();
    }

    /** The pusher's password on the downstream: never in the shared state, each node has it in its configuration. */
    private static final String PASSWORD = "s3cret-pw";
    private static final String PASSWORDS = "walkeeper.push.passwords { pusher = \"" + PASSWORD + "\" }";

    /** A `receive` node that wants user pusher's password (md5). */
    private WalkeeperNode receiver(int port) throws IOException {
        return TestNodes.start(dir.resolve("downstream"), "walkeeper { listen.port = " + port + ", cluster.enabled = off,"
                + " receive { enabled = true, dir = \"" + received().getParent().getParent() + "\" },"
                + " auth.users { pusher { method = md5, password = \"" + PASSWORD + "\" } } }");
    }

    private Path received() {
        return dir.resolve("received").resolve(ID.tenantId()).resolve(ID.timelineId());
    }

    private Path held(String node) {
        return dir.resolve(node).resolve(ID.tenantId()).resolve(ID.timelineId());
    }

    /** A proposer elected in term 1 on {@code node}. */
    private static TestProposer proposer(WalkeeperNode node) throws Exception {
        TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null);
        proposer.greet(FORMAT.pgVersion(), FORMAT.systemId(), SEG);
        assertTrue(proposer.vote(1).voteGiven());
        proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));
        return proposer;
    }

    /** Appends {@code bytes} of WAL at {@code from}, waits for the flush and commits it; returns the end. */
    private static Lsn appendCommitted(TestProposer proposer, WalGenerator wal, Lsn from, int bytes) throws Exception {
        byte[] records = wal.nextRecords(bytes);
        Lsn end = from.plus(records.length);
        for (int offset = 0; offset < records.length; offset += 128 * 1024) {
            byte[] chunk = java.util.Arrays.copyOfRange(records, offset, Math.min(records.length, offset + 128 * 1024));
            proposer.append(1, from.plus(offset), chunk, from);
        }
        proposer.awaitFlush(end, LIMIT);
        proposer.send(new ProposerMessage.AppendRequest(0, 1, end, end, end, Lsn.INVALID, ByteSlice.EMPTY));
        // Answered once the node took the commit LSN (journaled then: it moved by more than a segment),
        // so a node closed next restarts with it.
        long deadline = System.nanoTime() + LIMIT.toNanos();
        while (proposer.expect(AcceptorMessage.AppendResponse.class, LIMIT).commitLsn().compareTo(end) < 0) {
            assertTrue(System.nanoTime() < deadline, "the node did not commit " + end);
        }
        return end;
    }

    private static String segment(long lsn) {
        return XLogFileName.of(1, lsn / SEG, SEG);
    }

    /** Waits until the downstream completed the segment before {@code end}'s and holds every one the node does, byte for byte. */
    private void awaitReceivedUpTo(Lsn end, String node) throws Exception {
        Path last = received().resolve(segment(end.value() - SEG));
        Await.until(LIMIT, () -> Files.exists(last), () -> "the downstream did not complete " + last.getFileName());
        int compared = 0;
        for (long seg = START.value() / SEG; seg < end.value() / SEG; seg++) {
            String name = XLogFileName.of(1, seg, SEG);
            assertArrayEquals(Files.readAllBytes(held(node).resolve(name)), Files.readAllBytes(received().resolve(name)),
                    name);
            compared++;
        }
        assertTrue(compared >= 2, "segments compared: " + compared);
    }

    @Test
    void anAddedDownstreamGetsTheWalByteForByteAndNothingOnceRemoved() throws Exception {
        try (WalkeeperNode downstream = receiver(0);
             WalkeeperNode node = TestNodes.start(dir.resolve("node"), "walkeeper.node-id = 1\n" + PASSWORDS);
             TestProposer proposer = proposer(node)) {
            WalGenerator wal = new WalGenerator(FORMAT, START, 700);
            Lsn end = appendCommitted(proposer, wal, START, 3 * SEG);

            CliRun add = CliRun.of("downstream", "add", "archive", "--node", pg(node), "--timeline", TIMELINE,
                    "--to", pg(downstream), "--as", "pusher");
            assertEquals(0, add.exitCode(), add.err());
            assertTrue(add.out().startsWith("archive  timeline " + TIMELINE + "  " + pg(downstream) + "  user pusher"),
                    add.out());
            awaitReceivedUpTo(end, "node");
            Lsn more = appendCommitted(proposer, wal, end, 2 * SEG);
            awaitReceivedUpTo(more, "node");
            // The node publishes the downstream among the timeline's consumers.
            String[] pushing = new String[1];
            Await.until(LIMIT, () -> {
                pushing[0] = CliRun.of("status", "--node", pg(node)).out();
                return pushing[0].contains("push consumer " + pg(downstream) + ", flushed " + more);
            }, () -> "no push consumer in:\n" + pushing[0]);
            String json = CliRun.of("status", "--node", pg(node), "--json").out();
            assertTrue(json.contains("\"consumers\":[{\"kind\":\"push\",\"name\":\"" + pg(downstream)
                    + "\",\"flush_lsn\":\"" + more + "\"}]"), json);

            CliRun list = CliRun.of("downstream", "list", "--node", pg(node));
            assertEquals(add.out(), list.out());
            // Stored when the node's replicator reports the change, a moment after the answer.
            Await.until(LIMIT, () -> Files.exists(dir.resolve("node").resolve("downstreams.bin")),
                    () -> "not stored in the data directory");
            CliRun again = CliRun.of("downstream", "add", "archive", "--node", pg(node), "--timeline", TIMELINE,
                    "--to", "127.0.0.1:1");
            assertEquals(1, again.exitCode(), again.out());
            assertTrue(again.err().contains("42710 downstream \"archive\" already exists"), again.err());
            CliRun sameAddress = CliRun.of("downstream", "add", "other", "--node", pg(node), "--timeline", TIMELINE,
                    "--to", pg(downstream));
            assertTrue(sameAddress.err().contains("42710"), sameAddress.err());

            CliRun remove = CliRun.of("downstream", "remove", "archive", "--node", pg(node));
            assertEquals(0, remove.exitCode(), remove.err());
            assertEquals("no downstreams registered\n", remove.out());
            CliRun unknown = CliRun.of("downstream", "remove", "archive", "--node", pg(node));
            assertEquals(1, unknown.exitCode());
            assertTrue(unknown.err().contains("42704 downstream \"archive\" does not exist"), unknown.err());

            // The replicator stops: the node publishes that it pushes nowhere.
            String[] status = new String[1];
            Await.until(LIMIT, () -> {
                status[0] = CliRun.of("status", "--node", pg(node)).out();
                return status[0].contains("flush " + more) && !status[0].contains("pusher")
                        && !status[0].contains("downstreams");
            }, () -> "the node still pushes:\n" + status[0]);
            long before = Files.list(received()).count();
            Lsn after = appendCommitted(proposer, wal, more, 2 * SEG);
            assertFalse(Files.exists(received().resolve(segment(after.value() - SEG))));
            assertEquals(before, Files.list(received()).count());
        }
    }

    @Test
    void aRegistrationOutlivesTheNodeAskedAndARestartAfterWhichTheNodePushesWithoutAProposer() throws Exception {
        Lsn end;
        Path n1 = dir.resolve("n1");
        int downstreamPort = dev.walkeeper.testkit.FreePort.find();
        try (WalkeeperNode first = TestNodes.start(n1, "walkeeper.node-id = 1\n" + PASSWORDS)) {
            Address seed = first.cluster().selfMember().address();
            try (WalkeeperNode second = TestNodes.start(dir.resolve("n2"), "walkeeper { node-id = 2,"
                    + " cluster.seed-nodes = [\"" + seed.getHost().orElseThrow() + ":" + seed.getPort().orElseThrow()
                    + "\"] }")) {
                Await.until(LIMIT, () -> CliRun.of("status", "--node", pg(second)).out().contains("node 1    up"),
                        () -> "node 2 did not join");
                // Registered through node 2 while the downstream is not running yet.
                CliRun add = CliRun.of("downstream", "add", "archive", "--node", pg(second), "--timeline", TIMELINE,
                        "--to", "127.0.0.1:" + downstreamPort, "--as", "pusher");
                assertEquals(0, add.exitCode(), add.err());
            }
            CliRun list = CliRun.of("downstream", "list", "--node", pg(first));
            assertTrue(list.out().startsWith("archive  timeline " + TIMELINE), list.out() + list.err());
            try (TestProposer proposer = proposer(first)) {
                end = appendCommitted(proposer, new WalGenerator(FORMAT, START, 700), START, 3 * SEG);
            }
        }
        // The whole cluster restarted: the registration comes back from node 1's data directory, and
        // node 1 opens the timeline it holds and pushes it with no proposer connected.
        try (WalkeeperNode downstream = receiver(downstreamPort);
             WalkeeperNode first = TestNodes.start(n1, "walkeeper.node-id = 1\n" + PASSWORDS)) {
            CliRun list = CliRun.of("downstream", "list", "--node", pg(first));
            assertTrue(list.out().startsWith("archive  timeline " + TIMELINE), list.out() + list.err());
            awaitReceivedUpTo(end, "n1");
        }
    }

    @Test
    void aRestartedNodePushesToItsConfiguredDownstreamWithoutAProposer() throws Exception {
        int downstreamPort = dev.walkeeper.testkit.FreePort.find();
        String config = "walkeeper { cluster.enabled = off, push.downstreams = [ { timeline = \"" + TIMELINE
                + "\", host = \"127.0.0.1\", port = " + downstreamPort + ", user = \"pusher\", password = \"" + PASSWORD
                + "\" } ] }";
        Path data = dir.resolve("alone");
        Lsn end;
        try (WalkeeperNode node = TestNodes.start(data, config); TestProposer proposer = proposer(node)) {
            end = appendCommitted(proposer, new WalGenerator(FORMAT, START, 700), START, 3 * SEG);
        }
        try (WalkeeperNode downstream = receiver(downstreamPort); WalkeeperNode node = TestNodes.start(data, config)) {
            awaitReceivedUpTo(end, "alone");
        }
    }
}
