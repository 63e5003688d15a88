package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
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
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One pusher per timeline, across a crash: three nodes in their own JVMs form a cluster, all
 * configured with the same `walkeeper receive` downstream, while a test proposer writes WAL to
 * them. Exactly one node pushes; it is killed with SIGKILL during the push, another member takes
 * over within the bound and resumes where the downstream is, and the downstream ends with the
 * nodes' WAL byte for byte: no gap, and nothing written twice differently.
 */
class PusherFailoverTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final WalFormat FORMAT = new WalFormat(150018, 7_300_000_000_000_000_011L, SEG, 1);
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("77777777777777777777777777777777",
            "88888888888888888888888888888888");
    private static final Duration LIMIT = Duration.ofSeconds(60);
    /**
     * The documented takeover bound is about 5 s (Pekko's failure detector: heartbeats every
     * second, 3 s of acceptable pause; then a publish interval and a connect); the margin is for a
     * loaded CI machine.
     */
    private static final Duration TAKEOVER = Duration.ofSeconds(15);
    private static final int CHUNK = 128 * 1024 - 1024;
    private static final long TOTAL = 48L * 1024 * 1024;
    /** Written (and pushed) before the pusher is killed. */
    private static final long BEFORE_KILL = 12L * 1024 * 1024;

    @TempDir
    Path dir;

    /** One row of CLUSTER_STATUS about the timeline: a member's node id, status, pusher flag and downstream LSN. */
    private record PushRow(long nodeId, String status, boolean pusher, Lsn downstream) {}

    /** The timeline's rows as {@code node} sees them, by node id; empty if it does not answer. */
    private static Map<Long, PushRow> pushRows(int port) {
        Map<Long, PushRow> rows = new TreeMap<>();
        try (StatusClient client = StatusClient.connect(new InetSocketAddress("127.0.0.1", port), "ops", null,
                Duration.ofSeconds(5))) {
            StatusClient.Result result = client.query("CLUSTER_STATUS");
            for (List<String> r : result.rows()) {
                if (!"timeline".equals(result.value(r, "kind")) || !ID.timelineId().equals(result.value(r, "timeline_id"))) {
                    continue;
                }
                String downstreams = result.value(r, "downstream_flush_lsns");
                Lsn downstream = downstreams.isEmpty() ? Lsn.INVALID
                        : Lsn.parse(downstreams.substring(downstreams.indexOf('=') + 1));
                long nodeId = Long.parseLong(result.value(r, "node_id"));
                rows.put(nodeId, new PushRow(nodeId, result.value(r, "member_status"),
                        "t".equals(result.value(r, "pusher")), downstream));
            }
        } catch (IOException | StatusClient.StatusException e) {
            return Map.of();
        }
        return rows;
    }

    /**
     * The one pusher {@code port}'s node sees among the members up, or null while it sees none or
     * more than one (a killed member stays in the view, unreachable, with what it last published).
     */
    private static PushRow pusher(int port) {
        List<PushRow> pushers = pushRows(port).values().stream().filter(r -> r.pusher() && "up".equals(r.status()))
                .toList();
        return pushers.size() == 1 ? pushers.get(0) : null;
    }

    private static long members(int port) {
        try (StatusClient client = StatusClient.connect(new InetSocketAddress("127.0.0.1", port), "ops", null,
                Duration.ofSeconds(5))) {
            StatusClient.Result result = client.query("CLUSTER_STATUS");
            return result.rows().stream().filter(r -> "member".equals(result.value(r, "kind"))
                    && "up".equals(result.value(r, "member_status"))).count();
        } catch (IOException | StatusClient.StatusException e) {
            return 0;
        }
    }

    @Test
    void whenThePusherIsKilledAnotherNodeResumesThePushWithNoGap() throws Exception {
        Path received = dir.resolve("received");
        List<Integer> ports = List.of(FreePort.find(), FreePort.find(), FreePort.find());
        List<Integer> clusterPorts = List.of(FreePort.find(), FreePort.find(), FreePort.find());
        String seeds = "127.0.0.1:" + clusterPorts.get(0) + ",127.0.0.1:" + clusterPorts.get(1);
        List<RunningProcess> nodes = new ArrayList<>();
        List<TestProposer> proposers = new ArrayList<>();
        try (WalkeeperNode downstream = TestNodes.start(dir.resolve("downstream"),
                "walkeeper.receive { enabled = true, dir = \"" + received + "\" }")) {
            Path config = Files.writeString(dir.resolve("node.conf"), """
                    walkeeper.push.downstreams = [
                      { timeline = "%s/%s", host = "127.0.0.1", port = %d, user = "pusher" }
                    ]
                    """.formatted(ID.tenantId(), ID.timelineId(), downstream.address().getPort()));
            for (int i = 0; i < 3; i++) {
                nodes.add(WalkeeperProcesses.node(dir.resolve("node" + (i + 1)), ports.get(i), i + 1,
                        dir.resolve("node" + (i + 1) + ".log"), List.of(), List.of("--config", config.toString(),
                                "--cluster-listen", "127.0.0.1:" + clusterPorts.get(i), "--seed-nodes", seeds)));
            }
            Await.until(LIMIT, () -> members(ports.get(0)) == 3 && members(ports.get(2)) == 3,
                    () -> "three members up\n" + Await.tail(nodes.get(2).output()));

            for (int port : ports) {
                TestProposer proposer = TestProposer.connect(new InetSocketAddress("127.0.0.1", port), ID, "compute",
                        null);
                proposer.greet(FORMAT.pgVersion(), FORMAT.systemId(), SEG);
                assertTrue(proposer.vote(1).voteGiven());
                proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));
                proposers.add(proposer);
            }

            WalGenerator generator = new WalGenerator(FORMAT, START, 500);
            MessageDigest sent = MessageDigest.getInstance("SHA-256");
            Lsn at = START;
            Lsn committed = START;
            int killed = -1;
            while (at.value() - START.value() < TOTAL) {
                // A megabyte at a time, committed once every live node has flushed it.
                Lsn batchEnd = at;
                for (int i = 0; i < 8; i++) {
                    byte[] chunk = generator.nextRecords(CHUNK);
                    for (TestProposer p : proposers) {
                        if (p != null) {
                            p.append(1, batchEnd, chunk, committed);
                        }
                    }
                    sent.update(chunk);
                    batchEnd = batchEnd.plus(chunk.length);
                }
                for (TestProposer p : proposers) {
                    if (p != null) {
                        p.awaitFlush(batchEnd, LIMIT);
                    }
                }
                at = batchEnd;
                committed = batchEnd;

                if (killed < 0 && at.value() - START.value() >= BEFORE_KILL) {
                    // Once the pusher has delivered some WAL, kill it while more keeps coming.
                    PushRow[] first = new PushRow[1];
                    Await.until(LIMIT, () -> (first[0] = pusher(ports.get(0))) != null
                                    && first[0].downstream().compareTo(START) > 0,
                            () -> "one pusher with WAL delivered: " + pushRows(ports.get(0)));
                    // Gossip takes a moment to carry the last change everywhere.
                    Await.until(LIMIT, () -> ports.stream().allMatch(port -> {
                        PushRow seen = pusher(port);
                        return seen != null && seen.nodeId() == first[0].nodeId();
                    }), () -> "every node sees node " + first[0].nodeId() + " as the single pusher: "
                            + ports.stream().map(PusherFailoverTest::pushRows).toList());
                    killed = (int) first[0].nodeId() - 1;
                    long killedAt = System.nanoTime();
                    nodes.get(killed).kill();
                    proposers.get(killed).close();
                    proposers.set(killed, null);

                    int survivor = killed == 0 ? 1 : 0;
                    PushRow[] next = new PushRow[1];
                    Await.until(TAKEOVER, () -> (next[0] = pusher(ports.get(survivor))) != null
                                    && next[0].nodeId() != first[0].nodeId(),
                            () -> "another pusher after node " + first[0].nodeId() + " was killed: "
                                    + pushRows(ports.get(survivor)));
                    System.out.printf("node %d pushes %d ms after node %d was killed%n", next[0].nodeId(),
                            (System.nanoTime() - killedAt) / 1_000_000, first[0].nodeId());
                }
            }
            Lsn end = at;
            for (TestProposer p : proposers) {
                if (p != null) {
                    p.send(new ProposerMessage.AppendRequest(0, 1, end, end, end, Lsn.INVALID, ByteSlice.EMPTY));
                }
            }
            assertTrue(killed >= 0, "the pusher was killed during the push");

            int survivor = killed == 0 ? 1 : 0;
            Await.until(LIMIT, () -> {
                PushRow p = pusher(ports.get(survivor));
                return p != null && p.downstream().compareTo(end) >= 0;
            }, () -> "the downstream reports " + end + " durable: " + pushRows(ports.get(survivor)));
            PushRow last = pusher(ports.get(survivor));
            assertNotEquals(killed + 1, last.nodeId());

            // Byte for byte what was written, on the downstream as on the surviving nodes.
            byte[] expected = sent.digest();
            Path receivedDir = received.resolve(ID.tenantId()).resolve(ID.timelineId());
            assertArrayEquals(expected, WalPushTest.digestWal(receivedDir, START, end), "the downstream's WAL");
            for (int i = 0; i < 3; i++) {
                if (i != killed) {
                    Path nodeDir = dir.resolve("node" + (i + 1)).resolve(ID.tenantId()).resolve(ID.timelineId());
                    assertArrayEquals(expected, WalPushTest.digestWal(nodeDir, START, end), "node " + (i + 1));
                }
            }
            // Every segment the downstream completed has its final name, and equals a survivor's.
            Path survivorDir = dir.resolve("node" + (survivor + 1)).resolve(ID.tenantId()).resolve(ID.timelineId());
            long lastComplete = end.value() / SEG - 1;
            for (long seg = 2; seg <= lastComplete; seg++) {
                String name = XLogFileName.of(1, seg, SEG);
                assertTrue(Files.exists(receivedDir.resolve(name)), name + " completed downstream");
                assertArrayEquals(WalPushTest.readWal(survivorDir, new Lsn(seg * SEG), new Lsn((seg + 1) * SEG)),
                        Files.readAllBytes(receivedDir.resolve(name)), name);
            }
        } finally {
            for (TestProposer p : proposers) {
                if (p != null) {
                    p.close();
                }
            }
            nodes.forEach(RunningProcess::close);
        }
    }
}
