package dev.walkeeper.ops;

import dev.walkeeper.actors.bridge.Bridge;
import dev.walkeeper.actors.bridge.NodeProposerConnection;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.typed.ActorSystem;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code walkeeper propose}: run the proposer bridge, which streams a vanilla PostgreSQL primary's
 * WAL to a quorum of walkeeper nodes and reports the quorum's flush back as a synchronous standby.
 * Runs until interrupted (a lost primary or node is retried); exits 1 when the bridge stops on its
 * own: stepped down, the primary changed or refused the credentials.
 */
@Command(name = "propose", mixinStandardHelpOptions = true,
        description = "Stream a PostgreSQL primary's WAL to a quorum of walkeeper nodes (proposer bridge).")
class ProposeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--primary", required = true, paramLabel = "HOST:PORT", description = "The primary's address.")
    String primary;

    @Option(names = "--primary-user", defaultValue = "postgres", paramLabel = "USER",
            description = "Replication user on the primary (default ${DEFAULT-VALUE}); password from PGPASSWORD.")
    String primaryUser;

    @Option(names = "--slot", defaultValue = "walkeeper_bridge", paramLabel = "NAME",
            description = "Physical replication slot, created when missing (default ${DEFAULT-VALUE}).")
    String slot;

    @Option(names = "--application-name", defaultValue = "walkeeper_bridge", paramLabel = "NAME",
            description = "Standby name for synchronous_standby_names (default ${DEFAULT-VALUE}).")
    String applicationName;

    @Option(names = "--nodes", required = true, split = ",", paramLabel = "HOST:PORT",
            description = "The walkeeper nodes, comma separated.")
    List<String> nodes;

    @Option(names = "--node-user", defaultValue = "walkeeper_bridge", paramLabel = "USER",
            description = "User for the nodes (default ${DEFAULT-VALUE}); password from WALKEEPER_PASSWORD.")
    String nodeUser;

    @Option(names = "--tenant-id", required = true, paramLabel = "HEX32", description = "Tenant id (32 hex digits).")
    String tenantId;

    @Option(names = "--timeline-id", required = true, paramLabel = "HEX32", description = "Timeline id (32 hex digits).")
    String timelineId;

    @Option(names = "--buffer-size", defaultValue = "64MB", paramLabel = "SIZE",
            converter = ByteSizeConverter.class,
            description = "Recent WAL kept to catch up a node that fell behind, in kB/MB/GB (default ${DEFAULT-VALUE}).")
    long bufferBytes;

    @Option(names = "--node-reply-timeout", defaultValue = "10s", paramLabel = "DURATION",
            converter = DurationConverter.class,
            description = "A node that answers nothing this long while WAL or a heartbeat awaits its answer is"
                    + " dropped from the quorum and reconnected (default ${DEFAULT-VALUE}).")
    Duration nodeReplyTimeout;

    @Override
    public Integer call() {
        Bridge.Settings settings = settings();
        ActorSystem<Bridge.Command> system = ActorSystem.create(Bridge.create(settings), "walkeeper-bridge");
        Runtime.getRuntime().addShutdownHook(new Thread(system::terminate, "walkeeper-bridge-shutdown"));
        spec.commandLine().getOut().printf("walkeeper bridge: %s -> %s%n", primary, String.join(",", nodes));
        spec.commandLine().getOut().flush();
        system.getWhenTerminated().toCompletableFuture().join();
        return 1;
    }

    /** The password for the nodes' user, when they ask for one. */
    static final String NODE_PASSWORD_ENV = "WALKEEPER_PASSWORD";

    Bridge.Settings settings() {
        return settings(System.getenv());
    }

    /** Passwords come from the environment, never the command line (where {@code ps} shows them). */
    Bridge.Settings settings(Map<String, String> env) {
        TenantTimelineId id;
        try {
            id = new TenantTimelineId(tenantId, timelineId);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        List<InetSocketAddress> nodeAddresses = new ArrayList<>();
        for (String node : nodes) {
            nodeAddresses.add(address("--nodes", node));
        }
        // The primary client waits for StartStreaming (the election) within its handshake timeout.
        PrimaryReplicationClient.Settings primarySettings = PrimaryReplicationClient.Settings.defaults(primaryUser,
                env.get("PGPASSWORD"), applicationName, slot).withHandshakeTimeout(Duration.ofSeconds(60));
        return Bridge.Settings.defaults(address("--primary", primary), primarySettings, nodeAddresses,
                NodeProposerConnection.Settings.defaults(nodeUser, env.get(NODE_PASSWORD_ENV), id)
                        .withReplyTimeout(nodeReplyTimeout))
                .withBufferBytes(bufferBytes);
    }

    private InetSocketAddress address(String option, String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0 || colon == hostPort.length() - 1) {
            throw new ParameterException(spec.commandLine(), option + " must be HOST:PORT, got " + hostPort);
        }
        try {
            return new InetSocketAddress(hostPort.substring(0, colon),
                    Integer.parseInt(hostPort.substring(colon + 1)));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), option + " has a bad port: " + hostPort);
        }
    }
}
