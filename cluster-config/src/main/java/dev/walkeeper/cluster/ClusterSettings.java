package dev.walkeeper.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.Address;

/**
 * The {@code walkeeper.cluster} section: whether the node is a Pekko Cluster member, where its
 * Artery TCP transport listens and which members it joins through.
 *
 * @param enabled   false for a node that is no member (a {@code walkeeper receive} downstream)
 * @param host      where Artery listens, and (without {@code advertise}) the host other members
 *                  reach this node by
 * @param port      Artery's port, 0 for any free port
 * @param advertise the address other members reach this node by when it is not where Artery
 *                  listens (a NAT, a proxy); null: {@code host:port}
 * @param seedNodes members to join through; empty: the node forms a cluster of its own
 * @param publishInterval a timeline's positions are published to the others at most this often
 * @param rejoinAfterDowned a downed node starts a new actor system and rejoins (else it ends)
 * @param pusherLagTolerance bytes a member's flush LSN may be behind the highest commit LSN and
 *     still push the timeline (see {@code PusherChoice})
 */
public record ClusterSettings(boolean enabled, String host, int port, HostPort advertise, List<HostPort> seedNodes,
                              Duration publishInterval, boolean rejoinAfterDowned, long pusherLagTolerance) {

    /** The default pusher lag tolerance: one 16 MiB segment. */
    public static final long DEFAULT_PUSHER_LAG_TOLERANCE = 16L * 1024 * 1024;

    public ClusterSettings(boolean enabled, String host, int port, List<HostPort> seedNodes, Duration publishInterval) {
        this(enabled, host, port, null, seedNodes, publishInterval, true, DEFAULT_PUSHER_LAG_TOLERANCE);
    }

    public ClusterSettings(boolean enabled, String host, int port, HostPort advertise, List<HostPort> seedNodes,
                           Duration publishInterval, boolean rejoinAfterDowned) {
        this(enabled, host, port, advertise, seedNodes, publishInterval, rejoinAfterDowned,
                DEFAULT_PUSHER_LAG_TOLERANCE);
    }

    /** A HOST:PORT as written in the settings and flags. */
    public record HostPort(String host, int port) {
        @Override
        public String toString() {
            return host + ":" + port;
        }
    }

    public ClusterSettings {
        seedNodes = List.copyOf(seedNodes);
    }

    static ClusterSettings from(Config walkeeper) {
        Config c = walkeeper.getConfig("cluster");
        HostPort listen = hostPort("walkeeper.cluster.listen", c.getString("listen"), 0);
        List<HostPort> seeds = new ArrayList<>();
        for (String seed : c.getStringList("seed-nodes")) {
            seeds.add(hostPort("walkeeper.cluster.seed-nodes", seed, 1));
        }
        Duration publishInterval = c.getDuration("publish-interval");
        if (publishInterval.isNegative() || publishInterval.isZero()) {
            throw new IllegalArgumentException("walkeeper.cluster.publish-interval must be positive, got "
                    + c.getString("publish-interval"));
        }
        long tolerance;
        try {
            tolerance = c.getBytes("pusher-lag-tolerance");
        } catch (ConfigException.BadValue e) {
            tolerance = -1; // a negative size is refused by the parser itself
        }
        if (tolerance < 0) {
            throw new IllegalArgumentException("walkeeper.cluster.pusher-lag-tolerance must be a size of 0 or more, got "
                    + c.getValue("pusher-lag-tolerance").render());
        }
        HostPort advertise = null;
        if (!c.getString("advertise").isBlank()) {
            advertise = hostPort("walkeeper.cluster.advertise", c.getString("advertise"), 1);
            // The port behind the advertised one must be known in advance: whatever forwards
            // to it (a proxy, a NAT rule) is set up before the node starts.
            if (listen.port() == 0) {
                throw new IllegalArgumentException("walkeeper.cluster.listen needs a port (not 0) when "
                        + "walkeeper.cluster.advertise is set, got \"" + c.getString("listen") + "\"");
            }
        }
        return new ClusterSettings(c.getBoolean("enabled"), listen.host(), listen.port(), advertise, seeds,
                publishInterval, c.getBoolean("rejoin-after-downed"), tolerance);
    }

    /** The same settings on Artery port {@code boundPort}: a rejoining node keeps the port its first start got. */
    ClusterSettings withPort(int boundPort) {
        return new ClusterSettings(enabled, host, boundPort, advertise, seedNodes, publishInterval, rejoinAfterDowned,
                pusherLagTolerance);
    }

    /** The address the other members know this node by. */
    HostPort canonical() {
        return advertise != null ? advertise : new HostPort(host, port);
    }

    /** "HOST:PORT" with the port in {@code lowestPort}..65535 (a seed has a real port, a listener may ask for 0). */
    public static HostPort hostPort(String setting, String value, int lowestPort) {
        String text = value.strip();
        int colon = text.lastIndexOf(':');
        if (colon > 0 && colon < text.length() - 1) {
            try {
                int port = Integer.parseInt(text.substring(colon + 1));
                if (port >= lowestPort && port <= 65535) {
                    return new HostPort(text.substring(0, colon), port);
                }
            } catch (NumberFormatException ignored) {
                // reported below
            }
        }
        throw new IllegalArgumentException(setting + " must be HOST:PORT with a port in " + lowestPort
                + "..65535, got \"" + value + "\"");
    }

    /**
     * What the node's actor system needs on top of its configuration to be a member: set here,
     * for the node alone, so that other actor systems of the same class path (the bridge of
     * {@code walkeeper propose}, tests' systems) stay local. The member's role carries
     * {@code nodeId}, so the others know it by it.
     */
    Config pekkoConfig(long nodeId) {
        if (!enabled) {
            return ConfigFactory.empty();
        }
        HostPort canonical = canonical();
        Config config = ConfigFactory.empty()
                .withValue("pekko.actor.provider", ConfigValueFactory.fromAnyRef("cluster"))
                .withValue("pekko.remote.artery.transport", ConfigValueFactory.fromAnyRef("tcp"))
                .withValue("pekko.remote.artery.canonical.hostname", ConfigValueFactory.fromAnyRef(canonical.host()))
                .withValue("pekko.remote.artery.canonical.port", ConfigValueFactory.fromAnyRef(canonical.port()))
                .withValue("pekko.cluster.roles",
                        ConfigValueFactory.fromIterable(List.of(SharedTimelineState.nodeRole(nodeId))));
        if (advertise != null) {
            config = config.withValue("pekko.remote.artery.bind.hostname", ConfigValueFactory.fromAnyRef(host))
                    .withValue("pekko.remote.artery.bind.port", ConfigValueFactory.fromAnyRef(port));
        }
        return config;
    }

    /** The seeds as cluster addresses of an actor system named {@code systemName} (the same on every node). */
    List<Address> seedAddresses(String systemName) {
        return seedNodes.stream().map(s -> new Address("pekko", systemName, s.host(), s.port())).toList();
    }
}
