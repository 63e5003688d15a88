package dev.walkeeper.cluster;

import com.sun.net.httpserver.HttpExchange;
import dev.walkeeper.actors.metrics.NodeMetrics;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.datapoints.DistributionDataPoint;
import io.prometheus.metrics.core.datapoints.GaugeDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * A node's metrics ({@code walkeeper.metrics.listen}): the {@link NodeMetrics} its actors record
 * to, in a registry of its own (it outlives the node's incarnations, so counters go on across a
 * rejoin), served over HTTP on {@code /metrics} with the probes {@code /health} and {@code /ready}.
 */
final class MetricsServer implements NodeMetrics, AutoCloseable {
    static final String WAL_WRITTEN = "walkeeper_wal_written_bytes";
    static final String FLUSH_SECONDS = "walkeeper_wal_flush_seconds";
    static final String CONNECTIONS = "walkeeper_connections";

    /** Flushes are fsyncs: from a fast NVMe's tens of microseconds to a stalled disk's seconds. */
    private static final double[] FLUSH_BUCKETS = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

    private final Counter walWritten;
    private final Histogram flushSeconds;
    private final GaugeDataPoint startingUp;
    private final GaugeDataPoint authenticated;
    private final HTTPServer server;
    /** Set by the node: it listens and, in a cluster, is an Up member. */
    private volatile boolean ready;

    private MetricsServer(PrometheusRegistry registry, ClusterSettings.HostPort listen) throws IOException {
        walWritten = Counter.builder().name(WAL_WRITTEN)
                .help("WAL bytes of proposer appends written to the timeline's store (fsynced in the next flush)")
                .labelNames("tenant_id", "timeline_id").register(registry);
        flushSeconds = Histogram.builder().name(FLUSH_SECONDS)
                .help("Duration of a timeline's WAL flush (the fsync of what was written since the previous one)")
                .labelNames("tenant_id", "timeline_id").classicOnly().classicUpperBounds(FLUSH_BUCKETS)
                .register(registry);
        Gauge connections = Gauge.builder().name(CONNECTIONS)
                .help("Client connections the listener admitted, by state: startup (startup and authentication "
                        + "under way) or authenticated (any role: WAL push, replication, queries)")
                .labelNames("state").register(registry);
        startingUp = connections.labelValues("startup");
        authenticated = connections.labelValues("authenticated");
        JvmMetrics.builder().register(registry);
        server = HTTPServer.builder().hostname(listen.host()).port(listen.port()).registry(registry)
                .defaultHandler(this::probe).buildAndStart();
    }

    /** Starts the server on {@code listen}; fails with a {@link StartupException} if it cannot bind. */
    static MetricsServer start(ClusterSettings.HostPort listen) {
        try {
            return new MetricsServer(new PrometheusRegistry(), listen);
        } catch (IOException e) {
            throw new StartupException(StartupException.Reason.CANNOT_LISTEN, "cannot serve metrics on " + listen
                    + ": " + e.getMessage() + "; stop what uses it, or choose another address with --metrics-listen "
                    + "(walkeeper.metrics.listen)", e);
        }
    }

    int port() {
        return server.getPort();
    }

    void ready(boolean ready) {
        this.ready = ready;
    }

    @Override
    public TimelineMetrics timeline(TenantTimelineId id) {
        CounterDataPoint written = walWritten.labelValues(id.tenantId(), id.timelineId());
        DistributionDataPoint flushed = flushSeconds.labelValues(id.tenantId(), id.timelineId());
        return new TimelineMetrics() {
            @Override
            public void walWritten(long bytes) {
                written.inc(bytes);
            }

            @Override
            public void flushed(long nanos) {
                flushed.observe(nanos / 1e9);
            }
        };
    }

    @Override
    public void connections(int startingUp, int authenticated) {
        this.startingUp.set(startingUp);
        this.authenticated.set(authenticated);
    }

    /** Every path but the exporter's own ({@code /metrics}, {@code /-/healthy}). */
    private void probe(HttpExchange exchange) throws IOException {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            if (path.equals("/health")) {
                respond(exchange, 200, "OK\n");
            } else if (path.equals("/ready")) {
                boolean now = ready;
                respond(exchange, now ? 200 : 503, now ? "ready\n" : "not ready\n");
            } else {
                respond(exchange, 404, "not found: /metrics, /health or /ready\n");
            }
        }
    }

    private static void respond(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @Override
    public void close() {
        server.close();
    }
}
