package dev.walkeeper.actors.trace;

import com.typesafe.config.Config;
import dev.walkeeper.protocol.Lsn;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The commit trace of one actor system ({@code walkeeper.trace}): each stamp records a stage, the
 * LSN it reached and {@link System#nanoTime()}, for {@link TraceReport} to turn into a latency
 * budget per stage. Disabled (the default) a stamp is one check of a final field: no clock read,
 * no allocation. Take the instance once ({@code CommitTrace.get(system)} in a constructor or
 * behavior setup) and keep it in a field; code without a system uses {@link #DISABLED}.
 *
 * <p>Enabled, the events are written to {@code walkeeper.trace.file} when the system terminates
 * (a {@link CoordinatedShutdown} task, so on {@code terminate()} and on SIGTERM alike) or on
 * demand with {@link #write()}.
 */
public final class CommitTrace implements Extension {
    private static final Logger log = LoggerFactory.getLogger(CommitTrace.class);

    /** A trace that records nothing, for code (and tests) without an actor system. */
    public static final CommitTrace DISABLED = new CommitTrace(null, null);

    private final boolean enabled;
    private final TraceRecorder recorder;
    private final Path file;

    private CommitTrace(TraceRecorder recorder, Path file) {
        this.enabled = recorder != null;
        this.recorder = recorder;
        this.file = file;
    }

    public static CommitTrace get(ActorSystem<?> system) {
        return Id.INSTANCE.apply(system);
    }

    /**
     * The trace {@code config} describes; enabled only if {@code walkeeper.trace.enabled} is set
     * and true (a bare actors module without cluster-config's reference.conf traces nothing).
     */
    public static CommitTrace fromConfig(Config config) {
        if (!config.hasPath("walkeeper.trace.enabled") || !config.getBoolean("walkeeper.trace.enabled")) {
            return DISABLED;
        }
        Config trace = config.getConfig("walkeeper.trace");
        String source = trace.getString("source");
        String file = trace.getString("file");
        Path path = Path.of(file.isEmpty() ? "walkeeper-" + source + ".trace" : file);
        return new CommitTrace(new TraceRecorder(source, trace.getInt("max-events"), trace.getInt("node")), path);
    }

    public boolean enabled() {
        return enabled;
    }

    /** A stage reached {@code lsn} now; a node process's stamps carry its {@code walkeeper.trace.node}. */
    public void stamp(Stage stage, long lsn) {
        if (enabled) {
            recorder.stamp(stage, lsn);
        }
    }

    public void stamp(Stage stage, Lsn lsn) {
        if (enabled) {
            recorder.stamp(stage, lsn.value());
        }
    }

    /** A per-node stage reached {@code lsn} now for node {@code node} (the bridge's index of the node). */
    public void stamp(Stage stage, long lsn, int node) {
        if (enabled) {
            recorder.stamp(stage, lsn, node);
        }
    }

    /**
     * The time for a later {@link #stampAt}: {@link System#nanoTime()} when enabled, 0 (without
     * reading the clock) when not. For stages whose LSN is known only later, e.g. bytes read
     * before they are decoded.
     */
    public long now() {
        return enabled ? System.nanoTime() : 0;
    }

    public void stampAt(Stage stage, long lsn, long nanoTime) {
        if (enabled) {
            recorder.stampAt(stage, lsn, recorder.defaultNode(), nanoTime);
        }
    }

    public void stampAt(Stage stage, long lsn, int node, long nanoTime) {
        if (enabled) {
            recorder.stampAt(stage, lsn, node, nanoTime);
        }
    }

    /** The events so far; empty when disabled. */
    public Optional<TraceLog> snapshot() {
        return enabled ? Optional.of(recorder.snapshot()) : Optional.empty();
    }

    /** Writes the events so far to the trace file and returns its path; nothing when disabled. */
    public Optional<Path> write() throws IOException {
        if (!enabled) {
            return Optional.empty();
        }
        TraceLog events = recorder.snapshot();
        TraceFile.write(events, file);
        log.info("commit trace: {} events ({} dropped) written to {}", events.size(), events.dropped(), file);
        return Optional.of(file);
    }

    /** The extension's id; {@code getInstance()} lets {@code pekko.actor.typed.library-extensions} load it eagerly. */
    public static final class Id extends ExtensionId<CommitTrace> {
        private static final Id INSTANCE = new Id();

        private Id() {}

        public static Id getInstance() {
            return INSTANCE;
        }

        @Override
        public CommitTrace createExtension(ActorSystem<?> system) {
            CommitTrace trace = fromConfig(system.settings().config());
            if (trace.enabled) {
                system.log().info("commit trace on: up to {} events, written to {} when the system terminates",
                        trace.recorder.capacity(), trace.file.toAbsolutePath());
                CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(),
                        "write-commit-trace", () -> {
                            try {
                                trace.write();
                            } catch (IOException | RuntimeException e) {
                                log.warn("could not write the commit trace to {}: {}", trace.file, e.toString());
                            }
                            return CompletableFuture.completedFuture(Done.getInstance());
                        });
            }
            return trace;
        }
    }
}
