package dev.walkeeper.ops;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.walkeeper.cluster.ClusterSettings;
import dev.walkeeper.cluster.WalkeeperNode;
import java.io.File;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/**
 * {@code walkeeper node}: run a node until it is interrupted (exit status 0), or until it ends
 * otherwise: downed with {@code walkeeper.cluster.rejoin-after-downed} off, or failed (status 1).
 */
@Command(name = "node", mixinStandardHelpOptions = true,
        description = "Run a walkeeper node. Settings come from the config file (HOCON), then these flags.")
class NodeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", description = "HOCON file with walkeeper.* settings.")
    File configFile;

    @Option(names = "--listen", paramLabel = "HOST:PORT", description = "Listen address (default 127.0.0.1:5454).")
    String listen;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "Data directory (default ./data).")
    String dataDir;

    @Option(names = "--node-id", paramLabel = "N", description = "Node id, unique in the cluster (default 1).")
    Long nodeId;

    @Option(names = "--system-id", paramLabel = "N", description = "PostgreSQL system identifier reported by IDENTIFY_SYSTEM.")
    String systemId;

    @Option(names = "--cluster-listen", paramLabel = "HOST:PORT",
            description = "Address of this node's cluster transport (Artery TCP; default 127.0.0.1:0, any free port).")
    String clusterListen;

    @Option(names = "--cluster-advertise", paramLabel = "HOST:PORT",
            description = "Address the other members reach this node's cluster transport by, when something "
                    + "(a NAT, a proxy) forwards it to --cluster-listen (default: the --cluster-listen address).")
    String clusterAdvertise;

    @Option(names = "--seed-nodes", paramLabel = "HOST:PORT", split = ",",
            description = "Cluster members to join through (default none: a cluster of this node alone).")
    List<String> seedNodes;

    @Override
    public Integer call() throws Exception {
        WalkeeperNode node = WalkeeperNode.start(config());
        Runtime.getRuntime().addShutdownHook(new Thread(node::close, "walkeeper-shutdown"));
        // One line on stdout whatever the logging configuration: scripts and tests wait for it.
        spec.commandLine().getOut().printf("walkeeper node %d listening on %s:%d%n", node.settings().nodeId(),
                node.address().getHostString(), node.address().getPort());
        spec.commandLine().getOut().flush();
        // Not when an incarnation ends: a node the cluster downed rejoins in this process.
        WalkeeperNode.Ending ending = node.whenEnded().toCompletableFuture().join();
        // Downed without rejoining, or failed: a service manager's restart is the way back.
        return ending == WalkeeperNode.Ending.STOPPED ? 0 : 1;
    }

    /** Flags over the file over application.conf/reference.conf. */
    Config config() {
        Config config = ConfigFactory.empty();
        if (listen != null) {
            int colon = listen.lastIndexOf(':');
            if (colon <= 0 || colon == listen.length() - 1) {
                throw new ParameterException(spec.commandLine(), "--listen must be HOST:PORT, got " + listen);
            }
            config = config.withValue("walkeeper.listen.host", ConfigValueFactory.fromAnyRef(listen.substring(0, colon)))
                    .withValue("walkeeper.listen.port", ConfigValueFactory.fromAnyRef(parsePort(listen.substring(colon + 1))));
        }
        if (dataDir != null) {
            config = config.withValue("walkeeper.data-dir", ConfigValueFactory.fromAnyRef(dataDir));
        }
        if (nodeId != null) {
            config = config.withValue("walkeeper.node-id", ConfigValueFactory.fromAnyRef(nodeId));
        }
        if (systemId != null) {
            config = config.withValue("walkeeper.system-id", ConfigValueFactory.fromAnyRef(systemId));
        }
        if (clusterListen != null) {
            checkHostPort("--cluster-listen", clusterListen, 0);
            config = config.withValue("walkeeper.cluster.listen", ConfigValueFactory.fromAnyRef(clusterListen));
        }
        if (clusterAdvertise != null) {
            checkHostPort("--cluster-advertise", clusterAdvertise, 1);
            config = config.withValue("walkeeper.cluster.advertise", ConfigValueFactory.fromAnyRef(clusterAdvertise));
        }
        if (seedNodes != null) {
            seedNodes.forEach(seed -> checkHostPort("--seed-nodes", seed, 1));
            config = config.withValue("walkeeper.cluster.seed-nodes", ConfigValueFactory.fromIterable(seedNodes));
        }
        if (configFile != null) {
            if (!Files.isReadable(configFile.toPath())) {
                throw new ParameterException(spec.commandLine(), "cannot read config file " + configFile);
            }
            config = config.withFallback(ConfigFactory.parseFile(configFile));
        }
        // Resolved together with reference.conf, so settings derived from others (the journal's
        // directory from walkeeper.data-dir) follow the flags and the file.
        return ConfigFactory.load(config.withFallback(ConfigFactory.defaultApplication()));
    }

    /** A bad cluster address is a usage error (exit code 2), found before anything starts. */
    private void checkHostPort(String flag, String value, int lowestPort) {
        try {
            ClusterSettings.hostPort(flag, value, lowestPort);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    private int parsePort(String text) {
        try {
            int port = Integer.parseInt(text);
            if (port >= 0 && port <= 65535) {
                return port;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new ParameterException(spec.commandLine(), "--listen port must be 0..65535, got " + text);
    }
}
