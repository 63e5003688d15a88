package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.TestProposer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.Address;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code walkeeper status} against in-process nodes forming a cluster: the members, and the
 * positions of a timeline pushed to one node, as another node sees them.
 */
class StatusCommandTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final WalFormat FORMAT = new WalFormat(150018, 7_300_000_000_000_000_003L, SEG, 1);
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("55555555555555555555555555555555",
            "66666666666666666666666666666666");
    private static final Duration LIMIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private static CliRun status(String... args) {
        String[] all = new String[args.length + 1];
        all[0] = "status";
        System.arraycopy(args, 0, all, 1, args.length);
        return CliRun.of(all);
    }

    private static String pgAddress(WalkeeperNode node) {
        return "127.0.0.1:" + node.address().getPort();
    }

    /** Pushes one chunk of WAL in term 1 and waits until the node has flushed it. */
    private static Lsn push(WalkeeperNode node) throws Exception {
        byte[] wal = new WalGenerator(FORMAT, START, 700).nextRecords(64 * 1024);
        try (TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
            proposer.greet(FORMAT.pgVersion(), FORMAT.systemId(), SEG);
            assertTrue(proposer.vote(1).voteGiven());
            proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));
            proposer.append(1, START, wal, START);
            return proposer.awaitFlush(START.plus(wal.length - 8192), LIMIT).flushLsn();
        }
    }

    @Test
    void aNodeReportsTheMembersAndAnotherMembersPositions() throws Exception {
        try (WalkeeperNode first = TestNodes.start(dir.resolve("n1"), "walkeeper.node-id = 1")) {
            Address seed = first.cluster().selfMember().address();
            try (WalkeeperNode second = TestNodes.start(dir.resolve("n2"), "walkeeper { node-id = 2, cluster.seed-nodes = [\""
                    + seed.getHost().orElseThrow() + ":" + seed.getPort().orElseThrow() + "\"] }")) {
                Lsn flushed = push(first);

                String[] text = new String[1];
                Await.until(LIMIT, () -> {
                    CliRun run = status("--node", pgAddress(second));
                    text[0] = run.out() + run.err();
                    return run.exitCode() == 0 && run.out().contains("timeline " + ID.tenantId() + "/" + ID.timelineId())
                            && run.out().contains("flush " + flushed) && run.out().contains("node 2    up");
                }, () -> "walkeeper status did not show node 1's timeline:\n" + text[0]);
                assertTrue(text[0].contains("(this node)"), text[0]);
                assertTrue(text[0].contains("node 1    term 1     last log term 1     flush " + flushed), text[0]);

                CliRun json = status("--node", pgAddress(second), "--json");
                assertEquals(0, json.exitCode(), json.err());
                assertTrue(json.out().startsWith("{\"node\":\"" + pgAddress(second) + "\",\"members\":[{\"address\":"),
                        json.out());
                assertTrue(json.out().contains("\"tenant_id\":\"" + ID.tenantId() + "\",\"timeline_id\":\""
                        + ID.timelineId() + "\",\"members\":[{\"address\":\"" + seed + "\",\"node_id\":1,\"status\":\"up\","
                        + "\"term\":1,\"last_log_term\":1,\"flush_lsn\":\"" + flushed + "\""), json.out());
            }
        }
    }

    @Test
    void aNodeThatCannotBeReachedIsAnErrorWithExitCode1() throws Exception {
        int port;
        try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        CliRun run = status("--node", "127.0.0.1:" + port);
        assertEquals(1, run.exitCode(), run.out());
        assertTrue(run.err().startsWith("walkeeper status: 127.0.0.1:" + port + ": "), run.err());
    }

    @Test
    void aBadNodeAddressIsAUsageError() {
        CliRun run = status("--node", "nonsense");
        assertEquals(2, run.exitCode(), run.out());
        assertTrue(run.err().contains("--node must be HOST:PORT"), run.err());
    }
}
