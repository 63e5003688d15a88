package dev.walkeeper.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.walkeeper.actors.consensus.ServerInfo;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.timeline.WalStores;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.persistence.wal.SegmentedWalStore;
import dev.walkeeper.protocol.wal.WalFormat;
import java.nio.file.Path;
import dev.walkeeper.actors.connection.Listener;
import dev.walkeeper.persistence.DataDirectory;
import dev.walkeeper.persistence.journal.JdbcSchema;
import java.sql.SQLException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.List;
import org.apache.pekko.Done;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.JoinSeedNodes;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running walkeeper node: its actor system, its locked data directory and its bound address. */
public final class WalkeeperNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WalkeeperNode.class);
    private static final Duration BIND_TIMEOUT = Duration.ofSeconds(30);
    /** The actor system's name, part of every member's address: the same on all nodes. */
    private static final String SYSTEM_NAME = "walkeeper";
    private static final String JDBC_JOURNAL = "walkeeper.persistence.jdbc-journal";

    private final ActorSystem<NodeGuardian.Command> system;
    private final DataDirectory dataDirectory;
    /** Open writers of pushed WAL (receive nodes), closed after the actors stopped; or null. */
    private final PushReceivers receivers;
    private final InetSocketAddress address;
    private final NodeSettings settings;

    private WalkeeperNode(ActorSystem<NodeGuardian.Command> system, DataDirectory dataDirectory,
                          PushReceivers receivers, InetSocketAddress address, NodeSettings settings) {
        this.system = system;
        this.dataDirectory = dataDirectory;
        this.receivers = receivers;
        this.address = address;
        this.settings = settings;
    }

    /**
     * Starts a node and returns once it listens; fails with a clear message if it cannot.
     * {@code config} must be resolved with the node's own settings in it (as
     * {@code ConfigFactory.load(settings)} does), so that paths derived from
     * {@code walkeeper.data-dir} follow it.
     */
    public static WalkeeperNode start(Config config) throws IOException {
        // SLF4J must be initialised before Pekko logs, or it warns about "intercepted" calls.
        LoggerFactory.getILoggerFactory();
        NodeSettings settings = NodeSettings.from(config);
        if (settings.connection().auth().isOpen()) {
            log.warn("no users configured (walkeeper.auth.users): trusting loopback clients only, without a password");
        }
        prepareJdbcJournal(withJournal(config));
        DataDirectory dataDirectory = DataDirectory.open(settings.dataDir());
        ActorSystem<NodeGuardian.Command> system;
        PushReceivers receivers;
        try {
            receivers = settings.receives()
                    ? new PushReceivers(id -> settings.receiveDir().resolve(id.tenantId()).resolve(id.timelineId()),
                            settings.receiveStaleAfter())
                    : null;
            system = ActorSystem.create(NodeGuardian.create(settings, walStores(dataDirectory.path()), receivers),
                    SYSTEM_NAME, settings.cluster().pekkoConfig(settings.nodeId()).withFallback(withJournal(config)));
        } catch (RuntimeException e) {
            dataDirectory.close();
            throw e;
        }
        Listener.BindResult result;
        try {
            result = AskPattern.<NodeGuardian.Command, Listener.BindResult>ask(system, NodeGuardian.Start::new,
                    BIND_TIMEOUT, system.scheduler()).toCompletableFuture().get(BIND_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            terminate(system, dataDirectory);
            throw new IOException("node did not start listening: " + e, e);
        }
        if (result instanceof Listener.BindFailed failed) {
            terminate(system, dataDirectory);
            throw new IOException("cannot listen on " + failed.host() + ":" + failed.port() + ": "
                    + failed.cause().getMessage(), failed.cause());
        }
        InetSocketAddress address = ((Listener.Bound) result).address();
        log.info("walkeeper node {} listening on {}:{}, data in {}", settings.nodeId(),
                address.getHostString(), address.getPort(), dataDirectory.path());
        if (settings.cluster().enabled()) {
            join(system, settings.cluster());
        }
        return new WalkeeperNode(system, dataDirectory, receivers, address, settings);
    }

    /** Joins the seeds, or (with none) forms a cluster of this node alone. */
    private static void join(ActorSystem<?> system, ClusterSettings settings) {
        Cluster cluster = Cluster.get(system);
        Address self = cluster.selfMember().address();
        List<Address> seeds = settings.seedAddresses(SYSTEM_NAME);
        if (seeds.isEmpty()) {
            log.info("cluster member {}, no seed nodes: a single-node cluster that joins itself", self);
            cluster.manager().tell(Join.create(self));
        } else {
            log.info("cluster member {}, joining through seed nodes {}", self, settings.seedNodes());
            cluster.manager().tell(new JoinSeedNodes(seeds));
        }
    }

    /** Each timeline's WAL lives in {@code <data>/<tenant>/<timeline>/}, in PostgreSQL-named segments. */
    private static WalStores walStores(Path dataDir) {
        return new WalStores() {
            @Override
            public WalStore open(TenantTimelineId id, ServerInfo server, Lsn scanFrom) throws IOException {
                return SegmentedWalStore.open(directory(id),
                        new WalFormat(server.pgVersion(), server.systemId(), server.walSegSize(), 1), scanFrom);
            }

            @Override
            public Path directory(TenantTimelineId id) {
                return dataDir.resolve(id.tenantId()).resolve(id.timelineId());
            }
        };
    }

    /**
     * The file plugins are the default even if pekko-persistence's own reference.conf (which
     * names none) came first on the class path; a configured plugin (e.g. the JDBC journal) is kept.
     */
    private static Config withJournal(Config config) {
        Config storage = ConfigFactory.empty();
        if (config.getString("pekko.persistence.journal.plugin").isEmpty()) {
            storage = storage.withValue("pekko.persistence.journal.plugin",
                    ConfigValueFactory.fromAnyRef("walkeeper.persistence.file-journal"));
        }
        if (config.getString("pekko.persistence.snapshot-store.plugin").isEmpty()) {
            storage = storage.withValue("pekko.persistence.snapshot-store.plugin",
                    ConfigValueFactory.fromAnyRef("walkeeper.persistence.file-snapshot-store"));
        }
        return storage.withFallback(config);
    }

    /** The PostgreSQL journal needs its tables: created (idempotently) before the node starts. */
    private static void prepareJdbcJournal(Config config) throws IOException {
        if (!JDBC_JOURNAL.equals(config.getString("pekko.persistence.journal.plugin"))) {
            return;
        }
        Config jdbc = config.getConfig("walkeeper.persistence.jdbc");
        try {
            JdbcSchema.apply(jdbc.getString("url"), jdbc.getString("user"), jdbc.getString("password"));
        } catch (SQLException e) {
            throw new IOException("cannot prepare the PostgreSQL journal at " + jdbc.getString("url") + ": "
                    + e.getMessage(), e);
        }
    }

    public InetSocketAddress address() {
        return address;
    }

    /** This node's view of the cluster; only when {@code walkeeper.cluster.enabled}. */
    public Cluster cluster() {
        if (!settings.cluster().enabled()) {
            throw new IllegalStateException("walkeeper.cluster.enabled is off: this node is no cluster member");
        }
        return Cluster.get(system);
    }

    public NodeSettings settings() {
        return settings;
    }

    public CompletionStage<Done> whenTerminated() {
        return system.getWhenTerminated();
    }

    @Override
    public void close() {
        terminate(system, dataDirectory);
        if (receivers != null) {
            try {
                receivers.close();
            } catch (IOException e) {
                log.warn("could not close the received WAL: {}", e.toString());
            }
        }
    }

    private static void terminate(ActorSystem<?> system, DataDirectory dataDirectory) {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            log.warn("actor system did not terminate cleanly: {}", e.toString());
        }
        try {
            dataDirectory.close();
        } catch (IOException e) {
            log.warn("could not release the data directory lock: {}", e.toString());
        }
    }
}
