package dev.walkeeper.ops;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigValueFactory;
import dev.walkeeper.cluster.ClusterSettings;
import dev.walkeeper.cluster.StartupException;
import dev.walkeeper.cluster.WalkeeperNode;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code walkeeper node}: run a node until it is interrupted (exit status 0), or until it ends
 * otherwise: downed with {@code walkeeper.cluster.rejoin-after-downed} off, or failed (status 1).
 * A node that cannot start says why in one line on stderr and exits with the code of its
 * {@link StartupException.Reason} (see the README).
 */
@Command(name = "node", mixinStandardHelpOptions = true,
        description = "Run a walkeeper node. Settings come from the config file (HOCON), then these flags.")
class NodeCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(NodeCommand.class);

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

    @Option(names = "--metrics-listen", paramLabel = "HOST:PORT",
            description = "Serve Prometheus metrics (/metrics) and the probes /health and /ready over HTTP here "
                    + "(default: off).")
    String metricsListen;

    @Option(names = "--seed-nodes", paramLabel = "HOST:PORT", split = ",",
            description = "Cluster members to join through (default none: a cluster of this node alone).")
    List<String> seedNodes;

    @Override
    public Integer call() throws Exception {
        WalkeeperNode node;
        try {
            node = WalkeeperNode.start(config());
        } catch (StartupException e) {
            // The operator's mistake, not a bug: one line and its own exit code; the trace only for debugging.
            log.debug("startup failed", e);
            spec.commandLine().getErr().println("walkeeper: " + e.getMessage());
            spec.commandLine().getErr().flush();
            return e.reason().exitCode();
        }
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
        if (metricsListen != null) {
            checkHostPort("--metrics-listen", metricsListen, 0);
            config = config.withValue("walkeeper.metrics.listen", ConfigValueFactory.fromAnyRef(metricsListen));
        }
        if (seedNodes != null) {
            seedNodes.forEach(seed -> checkHostPort("--seed-nodes", seed, 1));
            config = config.withValue("walkeeper.cluster.seed-nodes", ConfigValueFactory.fromIterable(seedNodes));
        }
        if (configFile != null) {
            config = config.withFallback(parseConfigFile());
        }
        // Resolved together with reference.conf, so settings derived from others (the journal's
        // directory from walkeeper.data-dir) follow the flags and the file.
        try {
            return ConfigFactory.load(config.withFallback(ConfigFactory.defaultApplication()));
        } catch (ConfigException e) {
            throw new StartupException(StartupException.Reason.BAD_SETTING, "bad configuration: " + e.getMessage()
                    + "; correct it in the --config file or its flag", e);
        }
    }

    private Config parseConfigFile() {
        Path file = configFile.toPath();
        // parseFile reads a missing file as empty: an operator's typo must not start a default node.
        String unreadable = Files.notExists(file) ? "no such file"
                : Files.isDirectory(file) ? "it is a directory"
                : !Files.isReadable(file) ? "permission denied" : null;
        if (unreadable != null) {
            throw new StartupException(StartupException.Reason.CONFIG_FILE_UNREADABLE, "cannot read config file "
                    + file + ": " + unreadable + "; give a readable HOCON file with --config");
        }
        try {
            return ConfigFactory.parseFile(configFile, ConfigParseOptions.defaults().setAllowMissing(false));
        } catch (ConfigException.Parse e) {
            int line = e.origin() == null ? -1 : e.origin().lineNumber();
            throw new StartupException(StartupException.Reason.CONFIG_SYNTAX, "syntax error in config file " + file
                    + (line > 0 ? " at line " + line : "") + ": " + withoutOrigin(e) + "; correct the file", e);
        } catch (ConfigException e) {
            throw new StartupException(StartupException.Reason.CONFIG_FILE_UNREADABLE, "cannot read config file "
                    + file + ": " + withoutOrigin(e) + "; give a readable HOCON file with --config", e);
        }
    }

    /** The message without the "file: line: " prefix the line of ours already says. */
    private static String withoutOrigin(ConfigException e) {
        String prefix = e.origin() == null ? null : e.origin().description() + ": ";
        return prefix != null && e.getMessage().startsWith(prefix) ? e.getMessage().substring(prefix.length())
                : e.getMessage();
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
