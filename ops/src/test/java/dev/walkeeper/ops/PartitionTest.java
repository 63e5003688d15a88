package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.FaultProxy;
import dev.walkeeper.testkit.FreePort;
import dev.walkeeper.testkit.RunningProcess;
import dev.walkeeper.testkit.TestProposer;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Three clustered nodes in their own JVMs; every connection into node C's cluster port goes
 * through a {@link FaultProxy} (C advertises the proxy's port and binds the real one). Cutting the
 * proxy partitions C from A and B both ways, since heartbeat replies to C travel through it too:
 * the Split Brain Resolver (keep-majority) downs C on the majority side and C downs itself, stops
 * serving and pushing (its pusher to a downstream goes through a second proxy, which counts its
 * connections), and once the proxy heals rejoins as a new incarnation in the same process.
 */
class PartitionTest {
    /** Short for the test: A and B find C unreachable 2s after its heartbeat replies stop, decide 5s later. */
    private static final List<String> MAJORITY = List.of("-Dpekko.cluster.split-brain-resolver.stable-after=5s",
            "-Dpekko.cluster.failure-detector.acceptable-heartbeat-pause=2s");
    /**
     * C's failure detector is slower on purpose. The proxy cuts only connections into C, so C's
     * gossip still reaches A and B: had C marked them unreachable first, its observations would
     * join theirs, and Pekko's SBR, seeing each side observe the other ("indirectly connected"
     * nodes, as in a one-way partition), would down all three. A and B ignore gossip from a node
     * they find unreachable, so once they have marked C, C's view never reaches them.
     */
    private static final List<String> MINORITY = List.of("-Dpekko.cluster.split-brain-resolver.stable-after=5s",
            "-Dpekko.cluster.failure-detector.acceptable-heartbeat-pause=8s");
    /** Failure detection, stable-after, the downing and the removal, on a loaded machine. */
    private static final Duration DOWNED_WITHIN = Duration.ofSeconds(60);
    /** The old incarnation's removal, the new one's start and join, Artery's reconnect backoff. */
    private static final Duration REJOINED_WITHIN = Duration.ofSeconds(90);

    private static final int SEG = 16 * 1024 * 1024;
    private static final WalFormat FORMAT = new WalFormat(150018, 7_300_000_000_000_000_011L, SEG, 1);
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("77777777777777777777777777777777",
            "88888888888888888888888888888888");
    /** One AppendRequest (at most 128 KiB of WAL). */
    private static final int WAL_BYTES = 96 * 1024;

    @TempDir
    Path dir;

    @Test
    @Timeout(300)
    void aPartitionedNodeIsDownedStopsServingAndPushingAndRejoinsWhenThePartitionHeals() throws Exception {
        int[] pg = {FreePort.find(), FreePort.find(), FreePort.find()};
        int clusterA = FreePort.find();
        int clusterB = FreePort.find();
        int clusterC = FreePort.find();
        String seeds = "127.0.0.1:" + clusterA;
        try (WalkeeperNode downstream = TestNodes.start(dir.resolve("downstream"),
                "walkeeper { cluster.enabled = off, receive { enabled = true, dir = \"" + dir.resolve("received")
                        + "\" } }");
             FaultProxy intoDownstream = FaultProxy.start(downstream.address());
             FaultProxy intoC = FaultProxy.start(new InetSocketAddress("127.0.0.1", clusterC));
             RunningProcess a = node(1, pg[0], MAJORITY, "--cluster-listen", "127.0.0.1:" + clusterA,
                     "--seed-nodes", seeds);
             RunningProcess b = node(2, pg[1], MAJORITY, "--cluster-listen", "127.0.0.1:" + clusterB,
                     "--seed-nodes", seeds);
             RunningProcess c = node(3, pg[2], MINORITY, "--cluster-listen", "127.0.0.1:" + clusterC,
                     "--cluster-advertise", "127.0.0.1:" + intoC.address().getPort(), "--seed-nodes", seeds,
                     "--config", pushingTo(intoDownstream).toString())) {
            String memberC = "\"address\":\"pekko://walkeeper@127.0.0.1:" + intoC.address().getPort()
                    + "\",\"node_id\":3,\"status\":\"up\"";
            awaitStatus(pg[0], DOWNED_WITHIN, s -> s.contains(memberC) && count(s, "\"status\":\"up\"") == 3,
                    "three members up, C through the proxy", c);
            try (TestProposer proposer = commitOn(pg[2])) {
                Await.until(DOWNED_WITHIN, () -> intoDownstream.activeConnections() == 1
                                && intoDownstream.bytesForwarded(FaultProxy.Direction.CLIENT_TO_TARGET) >= WAL_BYTES,
                        () -> "C pushing its committed WAL to the downstream\n" + Await.tail(c.output()));

                // Connections into C are reset, and new ones refused: nothing reaches C's cluster port.
                intoC.refuse(true);
                intoC.cut();
                for (int node : new int[] {pg[0], pg[1]}) {
                    awaitStatus(node, DOWNED_WITHIN, s -> !s.contains("127.0.0.1:" + intoC.address().getPort())
                            && count(s, "\"status\":\"up\"") == 2, "C gone from the members", c);
                }
                c.awaitLog("was DOWNED by the cluster", DOWNED_WITHIN);
                // A minority serves nothing: its clients are disconnected, its pusher stops, and a
                // new incarnation listens only once it is a member again.
                assertClosed(proposer);
                Await.until(DOWNED_WITHIN, () -> intoDownstream.activeConnections() == 0,
                        () -> "C still connected to its downstream\n" + Await.tail(c.output()));
                Await.until(DOWNED_WITHIN, () -> !accepts(pg[2]), () -> "C still accepts connections\n"
                        + Await.tail(c.output()));
            }
            assertTrue(c.isAlive(), "a downed node stays up to rejoin\n" + Await.tail(c.output()));

            intoC.refuse(false);
            c.awaitLog("rejoined the cluster", REJOINED_WITHIN);
            awaitStatus(pg[0], REJOINED_WITHIN, s -> s.contains(memberC) && count(s, "\"status\":\"up\"") == 3,
                    "C up again as A sees it", c);
            awaitStatus(pg[2], REJOINED_WITHIN, s -> count(s, "\"status\":\"up\"") == 3,
                    "C answering on its own port again, with three members up", c);
            // While downed, C neither pushed nor tried to; once a member again it may (its log is
            // ordered, so what lies between the two lines is the downed time).
            String output = c.output();
            int downedAt = output.indexOf("was DOWNED by the cluster");
            int rejoinedAt = output.indexOf("rejoined the cluster", downedAt);
            assertTrue(downedAt >= 0 && rejoinedAt > downedAt, Await.tail(output));
            String downedTime = output.substring(downedAt, rejoinedAt);
            assertFalse(downedTime.contains("pushing from") || downedTime.contains("push connection failed"),
                    "a downed node dialled its downstream\n" + downedTime);
            // SIGTERM still ends the rejoined node: 143 (the signal) or 0, not a kill after the grace.
            int exit = c.stop(Duration.ofSeconds(30));
            assertTrue(exit == 143 || exit == 0, "exit code " + exit + "\n" + Await.tail(c.output()));
        }
    }

    /** A config file that has C push the timeline to {@code downstream}. */
    private Path pushingTo(FaultProxy downstream) throws IOException {
        return Files.writeString(dir.resolve("push.conf"), """
                walkeeper.push.downstreams = [
                  { timeline = "%s/%s", host = "127.0.0.1", port = %d, user = "pusher" }
                ]
                """.formatted(ID.tenantId(), ID.timelineId(), downstream.address().getPort()));
    }

    /** A proposer that wrote WAL in term 1 to the node and committed all of it; still connected. */
    private static TestProposer commitOn(int port) throws Exception {
        byte[] wal = new WalGenerator(FORMAT, START, 701).nextRecords(WAL_BYTES);
        Lsn end = START.plus(wal.length);
        TestProposer proposer = TestProposer.connect(new InetSocketAddress("127.0.0.1", port), ID, "compute", null);
        try {
            proposer.greet(FORMAT.pgVersion(), FORMAT.systemId(), SEG);
            assertTrue(proposer.vote(1).voteGiven());
            proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));
            proposer.append(1, START, wal, START);
            proposer.awaitFlush(end, DOWNED_WITHIN);
            proposer.append(1, end, new byte[0], end);
            return proposer;
        } catch (Exception | AssertionError e) {
            proposer.close();
            throw e;
        }
    }

    /** Until the node closes the proposer's connection (what it sent before is skipped). */
    private static void assertClosed(TestProposer proposer) throws InterruptedException {
        while (!(proposer.next(DOWNED_WITHIN) instanceof TestProposer.Closed)) {
            // AppendResponses and the like, sent before the node was downed
        }
    }

    private RunningProcess node(int nodeId, int port, List<String> jvmArgs, String... nodeArgs) {
        return WalkeeperProcesses.node(dir.resolve("node" + nodeId), port, nodeId, dir.resolve("node" + nodeId + ".log"),
                jvmArgs, nodeArgs);
    }

    /** {@code walkeeper status --json} against the node on {@code port}, until {@code done} holds. */
    private static void awaitStatus(int port, Duration limit, Predicate<String> done, String what,
                                    RunningProcess c) throws InterruptedException {
        String[] last = {""};
        Await.until(limit, () -> {
            last[0] = status(port);
            return done.test(last[0]);
        }, () -> what + ", as 127.0.0.1:" + port + " sees it: " + last[0] + "\nC's log:\n" + Await.tail(c.output()));
    }

    /** The members part of {@code walkeeper status --json} (the timelines' rows name members too). */
    private static String status(int port) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(new PrintWriter(out, true));
        cli.setErr(new PrintWriter(err, true));
        int exit = cli.execute("status", "--node", "127.0.0.1:" + port, "--json");
        if (exit != 0) {
            return "exit " + exit + ": " + err;
        }
        String json = out.toString();
        int timelines = json.indexOf(",\"timelines\":[");
        return timelines < 0 ? json : json.substring(0, timelines);
    }

    private static int count(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }

    private static boolean accepts(int port) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
