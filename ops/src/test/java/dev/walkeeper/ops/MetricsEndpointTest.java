package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.StartupException;
import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.testkit.Await;
import dev.walkeeper.testkit.FreePort;
import dev.walkeeper.testkit.TestProposer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A node with walkeeper.metrics.listen serves its metrics and probes over HTTP. */
class MetricsEndpointTest {
    private static final int SEG = 16 * 1024 * 1024;
    private static final long SYSTEM_ID = 7_300_000_000_000_000_002L;
    private static final WalFormat FORMAT = new WalFormat(150018, SYSTEM_ID, SEG, 1);
    private static final Lsn START = Lsn.parse("0/1000028");
    private static final TenantTimelineId ID = new TenantTimelineId("33333333333333333333333333333333",
            "44444444444444444444444444444444");
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();

    @TempDir
    Path dataDir;

    @Test
    void metricsCountPushedWalAndFlushesAndTheProbesAnswerOnceTheNodeIsUp() throws Exception {
        try (WalkeeperNode node = TestNodes.start(dataDir, "walkeeper.metrics.listen = \"127.0.0.1:0\"")) {
            assertEquals(200, get(node, "/health").statusCode());
            Await.until(TIMEOUT, () -> status(node, "/ready") == 200, () -> "/ready never answered 200");
            String before = get(node, "/metrics").body();
            assertTrue(before.contains("jvm_memory_used_bytes"), before);
            // A metric appears with its first timeline.
            assertFalse(before.contains("walkeeper_wal_written_bytes"), before);

            assertEquals(0, (long) connections(before, "authenticated"), before);
            long sent = push(node);

            String after = get(node, "/metrics").body();
            assertTrue(after.contains("# TYPE walkeeper_wal_written_bytes_total counter"), after);
            assertTrue(after.contains("# TYPE walkeeper_wal_flush_seconds histogram"), after);
            assertEquals(sent, (long) sample(after, "walkeeper_wal_written_bytes_total"), after);
            assertTrue(sample(after, "walkeeper_wal_flush_seconds_count") >= 1, after);
            // The proposer's connection is closed; the listener learns it when the connection actor stops.
            Await.until(TIMEOUT, () -> metricsText(node).contains("walkeeper_connections{state=\"authenticated\"} 0.0"),
                    () -> "authenticated connections never back to 0");
            assertEquals(404, get(node, "/nothing").statusCode());
        }
    }

    @Test
    void aRestartedNodeIsReadyOnceTheTimelineItOpensAtStartHasRecovered() throws Exception {
        String metricsOn = "walkeeper.metrics.listen = \"127.0.0.1:0\"\n";
        try (WalkeeperNode node = TestNodes.start(dataDir, metricsOn)) {
            push(node);
        }
        // A timeline with a configured downstream opens at start, before any client asks for it.
        String withDownstream = metricsOn + "walkeeper.push.downstreams = [{ timeline = \"" + ID.tenantId() + "/"
                + ID.timelineId() + "\", host = \"127.0.0.1\", port = " + FreePort.find() + ", user = walkeeper }]";
        try (WalkeeperNode node = TestNodes.start(dataDir, withDownstream)) {
            Await.until(TIMEOUT, () -> status(node, "/ready") == 200, () -> "/ready never answered 200");
            String metrics = get(node, "/metrics").body();
            // Counters start at 0 in a new process: recovery writes nothing of what was already stored.
            assertEquals(0, (long) sample(metrics, "walkeeper_wal_written_bytes_total"), metrics);
        }
    }

    @Test
    void readyAnswers503WhileTheNodeIsNoUpMemberOfTheCluster() throws Exception {
        // Its only seed is a port nobody listens on: the node listens but never becomes an Up member
        // (a node joins through itself only as the first of its own seeds).
        String config = "walkeeper.metrics.listen = \"127.0.0.1:0\"\nwalkeeper.cluster.seed-nodes = [\"127.0.0.1:"
                + FreePort.find() + "\"]";
        try (WalkeeperNode node = TestNodes.start(dataDir, config)) {
            assertEquals(200, get(node, "/health").statusCode());
            HttpResponse<String> ready = get(node, "/ready");
            assertEquals(503, ready.statusCode(), ready.body());
        }
    }

    @Test
    void aMetricsAddressInUseStopsTheStartWithItsOwnReasonAndReleasesTheDataDirectory() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            StartupException e = assertThrows(StartupException.class, () -> TestNodes.start(dataDir,
                    "walkeeper.metrics.listen = \"127.0.0.1:" + taken.getLocalPort() + "\"").close());
            assertEquals(StartupException.Reason.CANNOT_LISTEN, e.reason());
            assertTrue(e.getMessage().contains("--metrics-listen"), e.getMessage());
        }
        // The data directory's lock went with the failed start.
        TestNodes.start(dataDir, "").close();
    }

    /** Elects a proposer and appends WAL until it is flushed; returns the bytes appended. */
    private long push(WalkeeperNode node) throws IOException, InterruptedException {
        WalGenerator generator = new WalGenerator(FORMAT, START, 100);
        try (TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
            proposer.greet(FORMAT.pgVersion(), SYSTEM_ID, SEG);
            assertTrue(proposer.vote(1).voteGiven());
            proposer.elect(1, START, new TermHistory(List.of(new TermSwitch(1, START))));
            assertEquals(1, (long) connections(metricsText(node), "authenticated"));
            Lsn at = START;
            for (int i = 0; i < 4; i++) {
                byte[] chunk = generator.nextRecords(32 * 1024);
                proposer.append(1, at, chunk, at);
                at = at.plus(chunk.length);
            }
            assertEquals(at, proposer.awaitFlush(at, TIMEOUT).flushLsn());
            return at.value() - START.value();
        }
    }

    private static double connections(String metrics, String state) {
        Matcher m = Pattern.compile("(?m)^walkeeper_connections\\{state=\"" + state + "\"} (\\S+)$").matcher(metrics);
        assertTrue(m.find(), state + " connections in:\n" + metrics);
        return Double.parseDouble(m.group(1));
    }

    private String metricsText(WalkeeperNode node) {
        try {
            return get(node, "/metrics").body();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The value of {@code name}'s sample for the test's timeline. */
    private static double sample(String metrics, String name) {
        Matcher m = Pattern.compile("(?m)^" + name + "\\{tenant_id=\"" + ID.tenantId() + "\",timeline_id=\""
                + ID.timelineId() + "\"} (\\S+)$").matcher(metrics);
        assertTrue(m.find(), name + " for " + ID + " in:\n" + metrics);
        return Double.parseDouble(m.group(1));
    }

    private int status(WalkeeperNode node, String path) {
        try {
            return get(node, path).statusCode();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private HttpResponse<String> get(WalkeeperNode node, String path) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.metricsPort() + path))
                .timeout(TIMEOUT).build();
        return http.send(request, HttpResponse.BodyHandlers.ofString());
    }
}
