package dev.walkeeper.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import dev.walkeeper.actors.connection.Listener;
import dev.walkeeper.actors.metrics.NodeMetrics;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.persistence.DataDirectory;
import java.io.IOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.BootstrapSetup;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.setup.ActorSystemSetup;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.ExtensionSetup;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.cluster.typed.JoinSeedNodes;
import org.apache.pekko.remote.RemoteTransportException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running walkeeper node: its locked data directory, its bound addresses and its actor system.
 * A node the cluster downs gets a new actor system in the same process, one incarnation after the
 * other ({@code walkeeper.cluster.rejoin-after-downed}): Pekko lets no downed system back in.
 */
public final class WalkeeperNode implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WalkeeperNode.class);
    private static final Duration BIND_TIMEOUT = Duration.ofSeconds(30);
    /** How long a downed node waits for its old actor system's ports before it gives up and exits. */
    private static final Duration RELEASE_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(60);
    /** How long /ready waits for the timelines opened at start to recover (a large WAL scans long). */
    private static final Duration RECOVERY_WAIT = Duration.ofHours(1);
    /** The actor system's name, part of every member's address: the same on all nodes. */
    private static final String SYSTEM_NAME = "walkeeper";

    /** How a node ended for good. */
    public enum Ending {
        /** Closed, stopped with the JVM (SIGTERM, Ctrl-C) or left the cluster: a normal stop. */
        STOPPED,
        /** Downed, with {@code walkeeper.cluster.rejoin-after-downed} off or a rejoin that failed. */
        DOWNED,
        /** Its actor system ended for another reason, e.g. a fatal transport failure. */
        FAILED
    }

    /** The node's configuration with its journal plugins, the same for every incarnation. */
    private final Config config;
    private final NodeSettings settings;
    /** {@link #settings} on the ports the first incarnation bound: later ones keep its addresses. */
    private final NodeSettings pinned;
    private final DataDirectory dataDirectory;
    /** Open writers of pushed WAL (receive nodes), closed after the actors stopped; or null. */
    private final PushReceivers receivers;
    /** The metrics and probes server, or null ({@code walkeeper.metrics.listen} empty). */
    private final MetricsServer metrics;
    private final InetSocketAddress address;
    private final CompletableFuture<Ending> ended = new CompletableFuture<>();
    private final Object lock = new Object();
    /** The latest incarnation. Guarded by {@link #lock}. */
    private ActorSystem<NodeGuardian.Command> system;
    /** Set once the node is to end instead of rejoining: by close() or a failed rejoin. Guarded by {@link #lock}. */
    private Ending stopping;
    /** Whom the next incarnation joins through; chosen when the cluster downs the current one. */
    private volatile List<Address> rejoinSeeds = List.of();

    private WalkeeperNode(Config config, NodeSettings settings, NodeSettings pinned, DataDirectory dataDirectory,
                          PushReceivers receivers, MetricsServer metrics, InetSocketAddress address,
                          ActorSystem<NodeGuardian.Command> system) {
        this.config = config;
        this.settings = settings;
        this.pinned = pinned;
        this.dataDirectory = dataDirectory;
        this.receivers = receivers;
        this.metrics = metrics;
        this.address = address;
        this.system = system;
    }

    /**
     * Starts a node and returns once it listens; fails with a {@link StartupException} (one line
     * for the operator) if a setting, the data directory or the listen address does not let it.
     * {@code config} must be resolved with the node's own settings in it (as
     * {@code ConfigFactory.load(settings)} does), so that paths derived from
     * {@code walkeeper.data-dir} follow it.
     */
    public static WalkeeperNode start(Config config) throws IOException {
        // SLF4J must be initialised before Pekko logs, or it warns about "intercepted" calls.
        LoggerFactory.getILoggerFactory();
        NodeSettings settings = settings(config);
        Config storage = NodeStorage.withJournal(config);
        NodeStorage.prepareJdbcJournal(storage);
        DataDirectory dataDirectory = openDataDirectory(settings.dataDir());
        PushReceivers receivers = null;
        MetricsServer metrics = null;
        ActorSystem<NodeGuardian.Command> system = null;
        try {
            metrics = settings.servesMetrics() ? MetricsServer.start(settings.metricsListen()) : null;
            receivers = settings.receives()
                    ? new PushReceivers(id -> settings.receiveDir().resolve(id.tenantId()).resolve(id.timelineId()),
                            settings.receiveStaleAfter())
                    : null;
            system = createFirstSystem(settings, storage, dataDirectory, receivers, metrics);
            InetSocketAddress address = listen(system);
            log.info("walkeeper node {} listening on {}:{}, data in {}", settings.nodeId(),
                    address.getHostString(), address.getPort(), dataDirectory.path());
            if (settings.connection().auth().isOpen()) {
                log.warn("no users configured (walkeeper.auth.users): trusting loopback clients only, without a password");
            }
            NodeSettings pinned = settings.withPorts(address.getPort(), clusterBindPort(system, settings.cluster()));
            WalkeeperNode node = new WalkeeperNode(storage, settings, pinned, dataDirectory, receivers, metrics, address,
                    system);
            node.watch(system);
            if (settings.cluster().enabled()) {
                join(system, settings.cluster().seedAddresses(SYSTEM_NAME));
            }
            node.readyOnceUp(system);
            return node;
        } catch (IOException | RuntimeException e) {
            if (system != null) {
                system.terminate();
                awaitTerminated(system);
            }
            release(dataDirectory, receivers, metrics);
            throw e;
        }
    }

    /** The checked settings; a wrong one stops the start with the setting named. */
    private static NodeSettings settings(Config config) {
        try {
            return NodeSettings.from(config);
        } catch (ConfigException e) {
            // Typesafe Config names the file and line, and the setting relative to the walkeeper section.
            throw new StartupException(StartupException.Reason.BAD_SETTING, "bad setting under walkeeper: "
                    + e.getMessage() + "; correct it in the --config file or its flag", e);
        } catch (IllegalArgumentException e) {
            throw new StartupException(StartupException.Reason.BAD_SETTING, "bad setting: " + e.getMessage()
                    + "; correct it in the --config file or its flag", e);
        }
    }

    private static DataDirectory openDataDirectory(Path dir) {
        try {
            return DataDirectory.open(dir);
        } catch (DataDirectory.InUseException e) {
            throw new StartupException(StartupException.Reason.DATA_DIR_IN_USE, e.getMessage()
                    + ": stop that node, or give this one another --data-dir (walkeeper.data-dir)", e);
        } catch (IOException e) {
            throw new StartupException(StartupException.Reason.DATA_DIR_UNUSABLE, "cannot create or write the data "
                    + "directory " + dir.toAbsolutePath().normalize() + ": " + osReason(dir, e) + "; give a writable "
                    + "--data-dir (walkeeper.data-dir) or fix the permissions", e);
        }
    }

    /** What the OS said, without Java's exception names: the reason, after the file's path if not {@code dir}. */
    private static String osReason(Path dir, IOException e) {
        if (e instanceof FileSystemException f) {
            String reason = f.getReason() != null ? f.getReason()
                    : f instanceof AccessDeniedException ? "Permission denied"
                    : f instanceof NoSuchFileException ? "No such file or directory"
                    : f instanceof FileAlreadyExistsException ? "exists and is not a directory"
                    : f.getClass().getSimpleName();
            boolean sameFile = f.getFile() != null && Path.of(f.getFile()).toAbsolutePath().normalize()
                    .equals(dir.toAbsolutePath().normalize());
            return sameFile || f.getFile() == null ? reason : f.getFile() + ": " + reason;
        }
        return e.getMessage();
    }

    /** The first incarnation; its cluster transport's address in use is the operator's to fix. */
    private static ActorSystem<NodeGuardian.Command> createFirstSystem(NodeSettings settings, Config config,
                                                                       DataDirectory dataDirectory,
                                                                       PushReceivers receivers,
                                                                       MetricsServer metrics) {
        try {
            return createSystem(settings, config, dataDirectory, receivers, metrics);
        } catch (RemoteTransportException e) {
            Throwable cause = e;
            while (cause.getCause() != null && !(cause instanceof BindException)) {
                cause = cause.getCause();
            }
            // Pekko's BindException says "[/host:port] Address already in use": the address is ours to say.
            String reason = String.valueOf(cause.getMessage()).replaceFirst("^\\[[^]]*] ", "");
            throw new StartupException(StartupException.Reason.CANNOT_LISTEN, "cannot listen for the cluster on "
                    + settings.cluster().host() + ":" + settings.cluster().port() + ": " + reason + "; stop what "
                    + "uses it, or choose another address with --cluster-listen (walkeeper.cluster.listen)", e);
        }
    }

    private static ActorSystem<NodeGuardian.Command> createSystem(NodeSettings settings, Config config,
                                                                  DataDirectory dataDirectory, PushReceivers receivers,
                                                                  MetricsServer metrics) {
        ActorSystemSetup setup = ActorSystemSetup.create(BootstrapSetup.create(
                settings.cluster().pekkoConfig(settings.nodeId()).withFallback(config)));
        if (metrics != null) {
            // Every incarnation records to the same registry: counters go on across a rejoin.
            setup = setup.withSetup(new ExtensionSetup<NodeMetrics>(NodeMetrics.Id.INSTANCE, system -> metrics) {});
        }
        return ActorSystem.create(NodeGuardian.create(settings, NodeStorage.walStores(dataDirectory.path()), receivers),
                SYSTEM_NAME, setup);
    }

    /**
     * /ready says 200 once {@code incarnation} listens (it does when this is called), the
     * timelines it opened at start have recovered and, in a cluster, it is an Up member; it goes
     * back to 503 when the incarnation shuts down.
     */
    private void readyOnceUp(ActorSystem<NodeGuardian.Command> incarnation) {
        if (metrics == null) {
            return;
        }
        CompletableFuture<Done> up = new CompletableFuture<>();
        if (settings.cluster().enabled()) {
            org.apache.pekko.cluster.Cluster.get(incarnation).registerOnMemberUp(() -> up.complete(Done.getInstance()));
        } else {
            up.complete(Done.getInstance());
        }
        CompletionStage<Done> recovered = AskPattern.ask(incarnation, NodeGuardian.AwaitTimelinesRecovered::new,
                RECOVERY_WAIT, incarnation.scheduler());
        up.thenCombine(recovered, (u, r) -> r).whenComplete((done, failure) -> {
            if (CoordinatedShutdown.get(incarnation).getShutdownReason().isPresent()) {
                return; // it stops: not ready, whatever it got to
            }
            if (failure != null) {
                log.warn("node {}: its timelines did not recover within {}; /ready stays 503: {}", settings.nodeId(),
                        RECOVERY_WAIT, failure.toString());
            } else {
                metrics.ready(true);
            }
        });
        CoordinatedShutdown.get(incarnation).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(),
                "walkeeper-not-ready", () -> {
                    metrics.ready(false);
                    return CompletableFuture.completedFuture(Done.getInstance());
                });
    }

    /** Starts the timelines and the listener; returns where it listens. */
    private static InetSocketAddress listen(ActorSystem<NodeGuardian.Command> system) throws IOException {
        Listener.BindResult result;
        try {
            result = AskPattern.<NodeGuardian.Command, Listener.BindResult>ask(system, NodeGuardian.Start::new,
                    BIND_TIMEOUT, system.scheduler()).toCompletableFuture().get(BIND_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("node did not start listening: " + e, e);
        }
        if (result instanceof Listener.BindFailed failed) {
            throw new StartupException(StartupException.Reason.CANNOT_LISTEN, "cannot listen on " + failed.host()
                    + ":" + failed.port() + ": " + failed.cause().getMessage() + "; stop what uses it, or choose "
                    + "another address with --listen (walkeeper.listen.host, walkeeper.listen.port)", failed.cause());
        }
        return ((Listener.Bound) result).address();
    }

    /** Where Artery listens: the advertised port is someone else's, port 0 became a real one. */
    private static int clusterBindPort(ActorSystem<?> system, ClusterSettings cluster) {
        if (!cluster.enabled() || cluster.advertise() != null) {
            return cluster.port();
        }
        return Cluster.get(system).selfMember().address().getPort().orElseThrow();
    }

    /** Joins {@code seeds}, or (with none) forms a cluster of this node alone. */
    private static void join(ActorSystem<?> system, List<Address> seeds) {
        Cluster cluster = Cluster.get(system);
        Address self = cluster.selfMember().address();
        if (seeds.isEmpty()) {
            log.info("cluster member {}, no seed nodes: a single-node cluster that joins itself", self);
            cluster.manager().tell(Join.create(self));
        } else {
            log.info("cluster member {}, joining through seed nodes {}", self, seeds);
            cluster.manager().tell(new JoinSeedNodes(seeds));
        }
    }

    /** Follows an incarnation to its end, and says so when the cluster downs it. */
    private void watch(ActorSystem<NodeGuardian.Command> incarnation) {
        if (settings.cluster().enabled()) {
            Supplier<CompletionStage<Done>> sayWhy = () -> {
                onShutdownStarted(incarnation);
                return CompletableFuture.completedFuture(Done.getInstance());
            };
            // The first phase of the shutdown: the log says why before anything stops.
            CoordinatedShutdown.get(incarnation).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(),
                    "walkeeper-downed", sayWhy);
        }
        incarnation.getWhenTerminated().whenComplete((done, failure) -> onTerminated(incarnation));
    }

    private static boolean downed(ActorSystem<?> incarnation) {
        return CoordinatedShutdown.get(incarnation).getShutdownReason()
                .filter(CoordinatedShutdown.clusterDowningReason()::equals).isPresent();
    }

    private void onShutdownStarted(ActorSystem<?> incarnation) {
        if (!downed(incarnation)) {
            return;
        }
        Member self = Cluster.get(incarnation).selfMember();
        rejoinSeeds = rejoinSeeds(self, Cluster.get(incarnation).state().getMembers());
        log.warn("node {} ({}) was DOWNED by the cluster: by the Split Brain Resolver (this node was on the minority "
                        + "side of a partition, or unreachable for too long) or by an operator. It stops serving now: "
                        + "its listener, client connections and push replicators stop. {}", settings.nodeId(),
                self.address(), settings.cluster().rejoinAfterDowned()
                        ? "It will rejoin the cluster as a new incarnation once its members can be reached."
                        : "walkeeper.cluster.rejoin-after-downed is off: the node will exit.");
    }

    private void onTerminated(ActorSystem<?> incarnation) {
        Ending decided;
        synchronized (lock) {
            decided = stopping;
        }
        if (decided != null) {
            finish(decided);
            return;
        }
        CoordinatedShutdown.Reason reason = CoordinatedShutdown.get(incarnation).getShutdownReason()
                .orElse(CoordinatedShutdown.unknownReason());
        if (reason.equals(CoordinatedShutdown.clusterDowningReason())) {
            if (settings.cluster().rejoinAfterDowned()) {
                Thread rejoin = new Thread(this::rejoin, "walkeeper-rejoin-" + settings.nodeId());
                rejoin.setDaemon(true);
                rejoin.start();
            } else {
                log.error("node {} was downed and walkeeper.cluster.rejoin-after-downed is off: exiting",
                        settings.nodeId());
                finish(Ending.DOWNED);
            }
        } else if (reason.equals(CoordinatedShutdown.jvmExitReason())
                || reason.equals(CoordinatedShutdown.clusterLeavingReason())) {
            finish(Ending.STOPPED);
        } else {
            log.error("node {}: its actor system ended unexpectedly ({}): exiting", settings.nodeId(), reason);
            finish(Ending.FAILED);
        }
    }

    /**
     * A new incarnation, on the rejoin thread: once the old one has released its ports (its
     * journal and WAL stores were closed when its actors stopped, and the data directory stays
     * this process's), it joins, and starts its timelines and listener only once it is Up again,
     * so that a node still cut off from the majority neither serves nor pushes.
     */
    private void rejoin() {
        try {
            awaitReleased("listen address", pinned.host(), pinned.port());
            if (settings.cluster().enabled()) {
                awaitReleased("cluster address", pinned.cluster().host(), pinned.cluster().port());
            }
            if (endInstead()) {
                return;
            }
            ActorSystem<NodeGuardian.Command> next = createSystem(pinned, config, dataDirectory, receivers, metrics);
            if (!adopt(next)) {
                return;
            }
            join(next, rejoinSeeds);
            if (!awaitUp(next)) {
                return; // it ended before it was Up (closed, or downed again): its watcher decides
            }
            InetSocketAddress bound = listen(next);
            readyOnceUp(next);
            log.info("node {} rejoined the cluster as {} and serves on {}:{} again", settings.nodeId(),
                    Cluster.get(next).selfMember().uniqueAddress(), bound.getHostString(), bound.getPort());
        } catch (IOException | RuntimeException e) {
            log.error("node {} could not rejoin the cluster after it was downed: {}; exiting", settings.nodeId(),
                    e.toString(), e);
            ActorSystem<?> current;
            synchronized (lock) {
                if (stopping == null) {
                    stopping = Ending.DOWNED;
                }
                current = system;
            }
            // Terminating an incarnation that already ended does nothing; its watcher finished then.
            current.terminate();
            if (current.whenTerminated().isCompleted()) {
                finish(stopping());
            }
        }
    }

    private Ending stopping() {
        synchronized (lock) {
            return stopping;
        }
    }

    /** True (and the node ended) if close() came while no incarnation was running. */
    private boolean endInstead() {
        Ending decided = stopping();
        if (decided != null) {
            finish(decided);
            return true;
        }
        return false;
    }

    /** Makes {@code next} the node's incarnation, unless the node is closing (then it stops at once). */
    private boolean adopt(ActorSystem<NodeGuardian.Command> next) {
        watch(next);
        synchronized (lock) {
            if (stopping == null) {
                system = next;
                return true;
            }
        }
        next.terminate();
        return false;
    }

    /**
     * The configured seeds and the other members the downed incarnation knew, never this node
     * itself: as a seed of its own (the first seed) it would form a second cluster after a few
     * seconds without an answer, i.e. while the partition lasts. Only when the whole cluster was
     * downed (every other member Down too, or there was none) is there nothing to rejoin: then
     * the configured seeds as they are, as at a start, so that the first seed forms it anew.
     */
    private List<Address> rejoinSeeds(Member self, Iterable<Member> members) {
        List<Address> configured = settings.cluster().seedAddresses(SYSTEM_NAME);
        Set<Address> seeds = new LinkedHashSet<>(configured);
        boolean allDown = true;
        for (Member member : members) {
            if (!member.uniqueAddress().equals(self.uniqueAddress())) {
                seeds.add(member.address());
                allDown &= member.status().equals(MemberStatus.down());
            }
        }
        if (allDown) {
            return configured;
        }
        seeds.remove(self.address());
        return List.copyOf(seeds);
    }

    /** True once {@code incarnation} is Up; false if it ended first. */
    private static boolean awaitUp(ActorSystem<?> incarnation) {
        CompletableFuture<Boolean> up = new CompletableFuture<>();
        Runnable onUp = () -> up.complete(true);
        org.apache.pekko.cluster.Cluster.get(incarnation).registerOnMemberUp(onUp);
        incarnation.getWhenTerminated().thenRun(() -> up.complete(false));
        return up.join();
    }

    /** Waits until {@code host:port} can be bound: the old incarnation's socket on it is closed. */
    private void awaitReleased(String what, String host, int port) throws IOException {
        long deadline = System.nanoTime() + RELEASE_TIMEOUT.toNanos();
        while (stopping() == null) {
            try (ServerSocket probe = new ServerSocket()) {
                probe.setReuseAddress(true);
                probe.bind(new InetSocketAddress(host, port));
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw new IOException(what + " " + host + ":" + port + " still in use " + RELEASE_TIMEOUT
                            + " after the downed actor system ended: " + e.getMessage(), e);
                }
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for " + host + ":" + port, e);
            }
        }
    }

    /** The PostgreSQL-protocol address; a rejoining node listens on it again. */
    public InetSocketAddress address() {
        return address;
    }

    /**
     * This node's view of the cluster, from its latest incarnation; only when
     * {@code walkeeper.cluster.enabled}.
     */
    public Cluster cluster() {
        if (!settings.cluster().enabled()) {
            throw new IllegalStateException("walkeeper.cluster.enabled is off: this node is no cluster member");
        }
        synchronized (lock) {
            return Cluster.get(system);
        }
    }

    /** The port of /metrics, /health and /ready (the bound one if the setting said 0); only when served. */
    public int metricsPort() {
        if (metrics == null) {
            throw new IllegalStateException("walkeeper.metrics.listen is empty: this node serves no metrics");
        }
        return metrics.port();
    }

    public NodeSettings settings() {
        return settings;
    }

    /**
     * Completes when the node has ended for good, its data directory released: not when an
     * incarnation ends and the node rejoins.
     */
    public CompletionStage<Ending> whenEnded() {
        return ended;
    }

    /** Stops the node (whichever incarnation runs, or the rejoin under way) and waits until it has ended. */
    @Override
    public void close() {
        ActorSystem<?> current;
        synchronized (lock) {
            if (stopping == null) {
                stopping = Ending.STOPPED;
            }
            current = system;
        }
        current.terminate();
        try {
            ended.get(CLOSE_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            log.warn("node {} did not stop cleanly: {}", settings.nodeId(), e.toString());
            finish(Ending.STOPPED);
        }
    }

    /** The node's end: releases what outlives the incarnations. Only the first call counts. */
    private void finish(Ending ending) {
        synchronized (lock) {
            if (ended.isDone()) {
                return;
            }
            release(dataDirectory, receivers, metrics);
            ended.complete(ending);
        }
    }

    private static void awaitTerminated(ActorSystem<?> system) {
        try {
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException | TimeoutException e) {
            log.warn("actor system did not terminate cleanly: {}", e.toString());
        }
    }

    private static void release(DataDirectory dataDirectory, PushReceivers receivers, MetricsServer metrics) {
        if (metrics != null) {
            metrics.close();
        }
        if (receivers != null) {
            try {
                receivers.close();
            } catch (IOException e) {
                log.warn("could not close the received WAL: {}", e.toString());
            }
        }
        try {
            dataDirectory.close();
        } catch (IOException e) {
            log.warn("could not release the data directory lock: {}", e.toString());
        }
    }
}
