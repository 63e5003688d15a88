package dev.walkeeper.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigUtil;
import dev.walkeeper.actors.connection.AuthPolicy;
import dev.walkeeper.actors.connection.ConnectionSettings;
import dev.walkeeper.actors.recovery.RecoverySettings;
import dev.walkeeper.actors.replication.PushReplicator;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code walkeeper} section of the configuration, read and checked once at start so that a
 * wrong setting stops the node with a clear message instead of failing a client later.
 */
public record NodeSettings(long nodeId, Path dataDir, String host, int port, ConnectionSettings connection,
                           Map<TenantTimelineId, List<PushReplicator.Downstream>> downstreams, Path receiveDir,
                           Duration receiveStaleAfter, ClusterSettings cluster, RecoverySettings recovery,
                           Map<String, String> pushPasswords, ClusterSettings.HostPort metricsListen) {

    public NodeSettings {
        pushPasswords = Map.copyOf(pushPasswords);
    }

    /** True when this node serves /metrics, /health and /ready ({@code walkeeper.metrics.listen} set). */
    public boolean servesMetrics() {
        return metricsListen != null;
    }

    /** True when this node accepts START_PUSH_REPLICATION. */
    public boolean receives() {
        return receiveDir != null;
    }

    /**
     * The same settings on the ports a first start bound (where port 0 asked for any free one):
     * a node rejoining after it was downed keeps the addresses its clients and peers know.
     */
    NodeSettings withPorts(int listenPort, int clusterPort) {
        return new NodeSettings(nodeId, dataDir, host, listenPort, connection, downstreams, receiveDir,
                receiveStaleAfter, cluster.withPort(clusterPort), recovery, pushPasswords, metricsListen);
    }

    public static NodeSettings from(Config root) {
        Config c = root.getConfig("walkeeper");
        AuthPolicy auth = new AuthPolicy(users(c.getConfig("auth")));
        String host = c.getString("listen.host");
        if (auth.isOpen() && !isLoopback(host)) {
            throw new StartupException(StartupException.Reason.NO_USERS, "refusing to listen on " + host
                    + " without authentication: configure users in walkeeper.auth.users (in the --config file), "
                    + "or listen on a loopback address (--listen 127.0.0.1:PORT, walkeeper.listen.host)");
        }
        long walSegmentSize = c.getBytes("wal-segment-size");
        if (Long.bitCount(walSegmentSize) != 1 || walSegmentSize < 1 << 20 || walSegmentSize > 1L << 30) {
            throw new IllegalArgumentException("walkeeper.wal-segment-size must be a power of two between 1MiB and 1GiB, got "
                    + walSegmentSize);
        }
        ConnectionSettings connection = new ConnectionSettings(
                positive(c, "connection.startup-timeout"),
                positive(c, "connection.drain-timeout"),
                Math.toIntExact(c.getBytes("connection.max-message-size")),
                c.getString("server-version"),
                systemId(c.getString("system-id")),
                (int) walSegmentSize,
                auth,
                defaultTimeline(c.getString("default-timeline")),
                limits(c));
        Path dataDir = Path.of(c.getString("data-dir"));
        Path receiveDir = null;
        if (c.getBoolean("receive.enabled")) {
            String dir = c.getString("receive.dir");
            receiveDir = dir.isBlank() ? dataDir.resolve("received") : Path.of(dir);
        }
        return new NodeSettings(c.getLong("node-id"), dataDir, host, c.getInt("listen.port"), connection,
                downstreams(c), receiveDir, c.getDuration("receive.stale-after"), ClusterSettings.from(c),
                recovery(c.getConfig("recovery")), pushPasswords(c), metricsListen(c.getString("metrics.listen")));
    }

    /** HOST:PORT of the metrics and health endpoints, or null (empty) for none. */
    private static ClusterSettings.HostPort metricsListen(String value) {
        return value.isBlank() ? null : ClusterSettings.hostPort("walkeeper.metrics.listen", value.strip(), 0);
    }

    private static ConnectionSettings.Limits limits(Config c) {
        return new ConnectionSettings.Limits(notNegative(c, "connection.max-connections"),
                notNegative(c, "connection.max-connections-per-user"),
                notNegativeDuration(c, "connection.auth-failure-delay"),
                notNegativeDuration(c, "connection.wal-push-idle-timeout"));
    }

    private static int notNegative(Config c, String path) {
        int value = c.getInt(path);
        if (value < 0) {
            throw new IllegalArgumentException("walkeeper." + path + " must be 0 (no limit) or more, got " + value);
        }
        return value;
    }

    private static Duration notNegativeDuration(Config c, String path) {
        Duration value = c.getDuration(path);
        if (value.isNegative()) {
            throw new IllegalArgumentException("walkeeper." + path + " must be 0 (off) or more, got " + value);
        }
        return value;
    }

    private static Duration positive(Config c, String path) {
        Duration value = c.getDuration(path);
        if (value.isNegative() || value.isZero()) {
            throw new IllegalArgumentException("walkeeper." + path + " must be more than 0, got " + value);
        }
        return value;
    }

    private static RecoverySettings recovery(Config r) {
        String password = r.getString("password");
        try {
            return new RecoverySettings(r.getBoolean("enabled"), r.getDuration("check-interval"),
                    r.getBytes("min-lag"), r.getString("user"), password.isEmpty() ? null : password,
                    r.getDuration("handshake-timeout"));
        } catch (IllegalArgumentException | ConfigException e) {
            throw new IllegalArgumentException("walkeeper.recovery: " + e.getMessage(), e);
        }
    }

    private static Map<TenantTimelineId, List<PushReplicator.Downstream>> downstreams(Config c) {
        Map<TenantTimelineId, List<PushReplicator.Downstream>> out = new LinkedHashMap<>();
        for (Config d : c.getConfigList("push.downstreams")) {
            TenantTimelineId timeline = defaultTimeline(d.getString("timeline"));
            if (timeline == null) {
                throw new IllegalArgumentException("walkeeper.push.downstreams: every entry needs a timeline");
            }
            String password = d.hasPath("password") && !d.getString("password").isEmpty() ? d.getString("password") : null;
            out.computeIfAbsent(timeline, t -> new ArrayList<>()).add(new PushReplicator.Downstream(
                    InetSocketAddress.createUnresolved(d.getString("host"), d.getInt("port")), d.getString("user"),
                    password));
        }
        return out;
    }

    /** {@code walkeeper.push.passwords}: user → password for downstreams registered at runtime. */
    private static Map<String, String> pushPasswords(Config c) {
        Map<String, String> out = new LinkedHashMap<>();
        ConfigObject section = c.getObject("push.passwords");
        for (String user : section.keySet()) {
            try {
                out.put(user, section.toConfig().getString(ConfigUtil.quoteString(user)));
            } catch (ConfigException e) {
                throw new IllegalArgumentException("walkeeper.push.passwords: the password of \"" + user
                        + "\" must be a string", e);
            }
        }
        return out;
    }

    private static Map<String, AuthPolicy.User> users(Config auth) {
        Map<String, AuthPolicy.User> users = new LinkedHashMap<>();
        ConfigObject section = auth.getObject("users");
        for (String name : section.keySet()) {
            try {
                users.put(name, user(name, section.toConfig().getConfig(ConfigUtil.quoteString(name))));
            } catch (IllegalArgumentException | ConfigException e) {
                // Name the entry: with several users, "unknown auth method" alone does not say where.
                throw new IllegalArgumentException("walkeeper.auth.users." + name + ": " + e.getMessage(), e);
            }
        }
        return users;
    }

    private static AuthPolicy.User user(String name, Config user) {
        AuthPolicy.Method method = AuthPolicy.Method.fromConfig(user.getString("method"));
        if (user.hasPath("verifier")) {
            return AuthPolicy.User.withVerifier(name, method, user.getString("verifier"));
        }
        if (user.hasPath("password")) {
            return AuthPolicy.User.withPassword(name, method, user.getString("password"));
        }
        if (method == AuthPolicy.Method.TRUST) {
            return new AuthPolicy.User(name, method, null);
        }
        throw new IllegalArgumentException("method " + method.configName() + " needs a verifier or a password");
    }

    private static long systemId(String value) {
        try {
            return Long.parseUnsignedLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("walkeeper.system-id must be an unsigned 64-bit number, got " + value, e);
        }
    }

    /** "tenant/timeline" (32 hex each), or empty for none. */
    private static TenantTimelineId defaultTimeline(String value) {
        if (value.isBlank()) {
            return null;
        }
        String[] parts = value.strip().split("/", -1);
        try {
            if (parts.length == 2) {
                return new TenantTimelineId(parts[0], parts[1]);
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("walkeeper.default-timeline: " + e.getMessage(), e);
        }
        throw new IllegalArgumentException("walkeeper.default-timeline must be <tenant hex>/<timeline hex>, got " + value);
    }

    private static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("walkeeper.listen.host: unknown host " + host, e);
        }
    }
}
