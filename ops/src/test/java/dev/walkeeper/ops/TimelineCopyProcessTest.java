package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.FreePort;
import dev.walkeeper.testkit.RunningProcess;
import dev.walkeeper.testkit.TestProposer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replacing a dead node: three clustered nodes (1 and 2 in this JVM, 3 in its own) take a
 * timeline from a test proposer; node 3 is killed with SIGKILL and its data directory deleted
 * while the other two go on committing; a new, empty node 3 (same node id and addresses, as an operator replaces a machine)
 * joins, and {@code walkeeper timeline copy} gives it the timeline from the most advanced peer. Its
 * segments then equal the others' byte for byte, and with node 2 stopped it votes in a new term
 * and acknowledges WAL with node 1: the quorum commits with it. Refusals on the way: a timeline
 * nobody holds (42704), a donor that cannot be reached (08001), the timeline already there
 * (42710), a node that cannot be reached (exit 1).
 */
class TimelineCopyProcessTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final WalFormat FORMAT = new WalFormat(150018, 7_300_000_000_000_000_013L, SEG, 1);
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("99999999999999999999999999999999",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    private static final TenantTimelineId NOBODYS = new TenantTimelineId("99999999999999999999999999999999",
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
    private static final Duration LIMIT = Duration.ofSeconds(60);
    private static final int CHUNK = 128 * 1024 - 1024;

    @TempDir
    Path dir;

    /** Members {@code port}'s node sees up, and the node ids that published the timeline there. */
    private static List<String> view(int port) {
        List<String> seen = new ArrayList<>();
        try (StatusClient client = StatusClient.connect(new InetSocketAddress("127.0.0.1", port), "ops", null,
                Duration.ofSeconds(5))) {
            StatusClient.Result result = client.query("CLUSTER_STATUS");
            for (List<String> r : result.rows()) {
                if ("member".equals(result.value(r, "kind")) && "up".equals(result.value(r, "member_status"))) {
                    seen.add("up " + result.value(r, "node_id"));
                } else if ("timeline".equals(result.value(r, "kind"))
                        && ID.timelineId().equals(result.value(r, "timeline_id"))) {
                    seen.add("holds " + result.value(r, "node_id"));
                }
            }
        } catch (IOException | StatusClient.StatusException e) {
            return List.of();
        }
        return seen;
    }

    /** Appends {@code bytes} of WAL at {@code at} to every proposer and waits until each flushed it; returns the end. */
    private static Lsn write(WalGenerator generator, List<TestProposer> proposers, long term, Lsn at, long bytes)
            throws Exception {
        Lsn end = at;
        for (long written = 0; written < bytes; ) {
            byte[] chunk = generator.nextRecords(CHUNK);
            for (TestProposer p : proposers) {
                p.append(term, end, chunk, end);
            }
            end = end.plus(chunk.length);
            written += chunk.length;
        }
        for (TestProposer p : proposers) {
            p.awaitFlush(end, LIMIT);
        }
        return end;
    }

    private static Path timelineDir(Path dataDir) {
        return dataDir.resolve(ID.tenantId()).resolve(ID.timelineId());
    }

    @Test
    void anEmptyNodeReplacingADeadOneCopiesTheTimelineAndThenVotesAndAcknowledges() throws Exception {
        List<Integer> ports = List.of(FreePort.find(), FreePort.find(), FreePort.find());
        List<Integer> clusterPorts = List.of(FreePort.find(), FreePort.find(), FreePort.find());
        String seeds = "127.0.0.1:" + clusterPorts.get(0) + ",127.0.0.1:" + clusterPorts.get(1);
        List<TestProposer> proposers = new ArrayList<>();
        String node3 = "127.0.0.1:" + ports.get(2);
        RunningProcess third = null;
        WalkeeperNode second = null;
        // Nodes 1 and 2 run in this JVM (fewer JVMs to start); node 3, which dies, in its own.
        try (WalkeeperNode first = inProcess(1, ports, clusterPorts)) {
            second = inProcess(2, ports, clusterPorts);
            third = startNode(2, ports, clusterPorts, seeds, "node3.log", List.of());
            Await.until(LIMIT, () -> view(ports.get(0)).containsAll(List.of("up 1", "up 2", "up 3")),
                    () -> "three members up: " + view(ports.get(0)));
            for (int port : ports) {
                TestProposer proposer = TestProposer.connect(new InetSocketAddress("127.0.0.1", port), ID, "compute",
                        null);
                proposer.greet(FORMAT.pgVersion(), FORMAT.systemId(), SEG);
                assertTrue(proposer.vote(1).voteGiven());
                proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));
                proposers.add(proposer);
            }
            WalGenerator generator = new WalGenerator(FORMAT, START, 500);
            Lsn end = write(generator, proposers, 1, START, 20L * 1024 * 1024);

            // Node 3 dies with its disk; nodes 1 and 2 go on committing without it.
            third.kill();
            proposers.remove(2).close();
            deleteTree(dir.resolve("node3"));
            end = write(generator, proposers, 1, end, 6L * 1024 * 1024);
            Lsn committed = end;
            for (TestProposer p : proposers) { // the commit LSN reaches the nodes with the next request
                p.append(1, end, new byte[0], committed);
            }

            // The replacement: an empty node 3 on the same addresses.
            // Pekko downs the dead incarnation when the new one asks to join, then lets it in at its
            // next attempt: a retry after 1 s instead of 10 s keeps the test short.
            third = startNode(2, ports, clusterPorts, seeds, "node3-new.log",
                    List.of("-Dpekko.cluster.retry-unsuccessful-join-after=1s"));
            RunningProcess replacement = third;
            Await.until(LIMIT, () -> view(ports.get(2)).containsAll(List.of("up 1", "up 2", "up 3", "holds 1", "holds 2")),
                    () -> "the new node 3 sees the members and their timeline: " + view(ports.get(2)) + "\n"
                            + Await.tail(replacement.output()));

            CliRun unreachableNode = CliRun.of("timeline", "copy", "--node", "127.0.0.1:" + FreePort.find(), "--timeline",
                    ID.tenantId() + "/" + ID.timelineId());
            assertEquals(1, unreachableNode.exitCode(), unreachableNode.err());
            CliRun nobodyHoldsIt = CliRun.of("timeline", "copy", "--node", node3, "--timeline",
                    NOBODYS.tenantId() + "/" + NOBODYS.timelineId());
            assertEquals(3, nobodyHoldsIt.exitCode(), nobodyHoldsIt.err());
            assertTrue(nobodyHoldsIt.err().contains("42704"), nobodyHoldsIt.err());
            CliRun unreachableDonor = CliRun.of("timeline", "copy", "--node", node3, "--timeline",
                    ID.tenantId() + "/" + ID.timelineId(), "--from", "127.0.0.1:" + FreePort.find());
            assertEquals(3, unreachableDonor.exitCode(), unreachableDonor.err());
            assertTrue(unreachableDonor.err().contains("08001"), unreachableDonor.err());

            long started = System.nanoTime();
            CliRun copied = CliRun.of("timeline", "copy", "--node", node3, "--timeline", ID.tenantId() + "/" + ID.timelineId());
            assertEquals(0, copied.exitCode(), copied.err() + "\n" + Await.tail(replacement.output()));
            System.out.printf("copy took %d ms: %s", (System.nanoTime() - started) / 1_000_000, copied.out());
            assertTrue(copied.out().contains("flush " + end), copied.out());
            CliRun again = CliRun.of("timeline", "copy", "--node", node3, "--timeline", ID.tenantId() + "/" + ID.timelineId());
            assertEquals(3, again.exitCode(), again.err());
            assertTrue(again.err().contains("42710"), again.err());

            // Byte for byte the survivors' WAL, the first segment's headers included.
            Path copy = timelineDir(dir.resolve("node3"));
            Path survivor = timelineDir(dir.resolve("node1"));
            assertArrayEquals(WalPushTest.digestWal(survivor, new Lsn(START.value() / SEG * SEG), end),
                    WalPushTest.digestWal(copy, new Lsn(START.value() / SEG * SEG), end));
            for (long seg = START.value() / SEG; seg < end.value() / SEG; seg++) {
                String name = XLogFileName.of(1, seg, SEG);
                assertArrayEquals(Files.readAllBytes(survivor.resolve(name)), Files.readAllBytes(copy.resolve(name)),
                        name);
            }

            // Node 2 stops: a proposer of term 2 is elected by nodes 1 and 3 and commits with them.
            proposers.forEach(p -> closeQuietly(p));
            proposers.clear();
            second.close();
            second = null;
            TermHistory history = new TermHistory(List.of(new TermSwitch(1, START), new TermSwitch(2, end)));
            for (int i : List.of(0, 2)) {
                TestProposer proposer = TestProposer.connect(new InetSocketAddress("127.0.0.1", ports.get(i)), ID,
                        "compute", null);
                proposer.greet(FORMAT.pgVersion(), FORMAT.systemId(), SEG);
                VoteResponse vote = proposer.vote(2);
                assertTrue(vote.voteGiven(), "node " + (i + 1) + " votes in term 2");
                assertEquals(end, vote.flushLsn(), "node " + (i + 1) + "'s flush LSN");
                proposer.elect(2, end, history);
                proposers.add(proposer);
            }
            Lsn after = write(generator, proposers, 2, end, 2L * 1024 * 1024);
            assertArrayEquals(WalPushTest.digestWal(survivor, end, after), WalPushTest.digestWal(copy, end, after),
                    "the WAL of term 2 on both");
        } finally {
            proposers.forEach(TimelineCopyProcessTest::closeQuietly);
            if (third != null) {
                third.close();
            }
            if (second != null) {
                second.close();
            }
        }
    }

    private WalkeeperNode inProcess(int nodeId, List<Integer> ports, List<Integer> clusterPorts) throws IOException {
        return TestNodes.start(dir.resolve("node" + nodeId), """
                walkeeper {
                  node-id = %d
                  listen.port = %d
                  cluster { listen = "127.0.0.1:%d", seed-nodes = ["127.0.0.1:%d", "127.0.0.1:%d"] }
                }
                """.formatted(nodeId, ports.get(nodeId - 1), clusterPorts.get(nodeId - 1), clusterPorts.get(0),
                clusterPorts.get(1)));
    }

    private RunningProcess startNode(int i, List<Integer> ports, List<Integer> clusterPorts, String seeds, String log,
                                     List<String> jvmArgs) {
        return WalkeeperProcesses.node(dir.resolve("node" + (i + 1)), ports.get(i), i + 1, dir.resolve(log), jvmArgs,
                List.of("--cluster-listen", "127.0.0.1:" + clusterPorts.get(i), "--seed-nodes", seeds));
    }

    private static void closeQuietly(TestProposer proposer) {
        try {
            proposer.close();
        } catch (IOException e) {
            // the node may be gone
        }
    }

    private static void deleteTree(Path root) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
