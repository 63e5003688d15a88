package dev.walkeeper.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.walkeeper.actors.timeline.WalStores;
import dev.walkeeper.persistence.wal.SegmentedWalStore;
import dev.walkeeper.protocol.wal.WalFormat;
import java.nio.file.Path;
import dev.walkeeper.actors.connection.Listener;
import dev.walkeeper.persistence.DataDirectory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** A running walkeeper node: its actor system, its locked data directory and its bound address. */
public final class WalkeeperNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WalkeeperNode.class);
    private static final Duration BIND_TIMEOUT = Duration.ofSeconds(30);

    private final ActorSystem<NodeGuardian.Command> system;
    private final DataDirectory dataDirectory;
    private final InetSocketAddress address;
    private final NodeSettings settings;

    private WalkeeperNode(ActorSystem<NodeGuardian.Command> system, DataDirectory dataDirectory,
                          InetSocketAddress address, NodeSettings settings) {
        this.system = system;
        this.dataDirectory = dataDirectory;
        this.address = address;
        this.settings = settings;
    }

    /** Starts a node and returns once it listens; fails with a clear message if it cannot. */
    public static WalkeeperNode start(Config config) throws IOException {
        // SLF4J must be initialised before Pekko logs, or it warns about "intercepted" calls.
        LoggerFactory.getILoggerFactory();
        NodeSettings settings = NodeSettings.from(config);
        if (settings.connection().auth().isOpen()) {
            log.warn("no users configured (walkeeper.auth.users): trusting loopback clients only, without a password");
        }
        DataDirectory dataDirectory = DataDirectory.open(settings.dataDir());
        ActorSystem<NodeGuardian.Command> system;
        try {
            system = ActorSystem.create(NodeGuardian.create(settings, walStores(dataDirectory.path())), "walkeeper",
                    withStorageIn(dataDirectory.path(), config));
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
        return new WalkeeperNode(system, dataDirectory, address, settings);
    }

    /** Each timeline's WAL lives in {@code <data>/<tenant>/<timeline>/}, in PostgreSQL-named segments. */
    private static WalStores walStores(Path dataDir) {
        return (id, server, scanFrom) -> SegmentedWalStore.open(
                dataDir.resolve(id.tenantId()).resolve(id.timelineId()),
                new WalFormat(server.pgVersion(), server.systemId(), server.walSegSize(), 1), scanFrom);
    }

    /** The journal and snapshots live in the data directory, wherever the flags put it. */
    private static Config withStorageIn(Path dataDir, Config config) {
        return ConfigFactory.empty()
                .withValue("walkeeper.persistence.file-journal.dir",
                        ConfigValueFactory.fromAnyRef(dataDir.resolve("journal").toString()))
                .withValue("walkeeper.persistence.file-snapshot-store.dir",
                        ConfigValueFactory.fromAnyRef(dataDir.resolve("snapshots").toString()))
                .withFallback(config);
    }

    public InetSocketAddress address() {
        return address;
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
