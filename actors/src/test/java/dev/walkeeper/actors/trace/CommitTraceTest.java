package dev.walkeeper.actors.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CommitTraceTest {
    @TempDir
    Path dir;

    @Test
    void disabledItRecordsAndWritesNothing() throws IOException {
        CommitTrace trace = CommitTrace.fromConfig(ConfigFactory.parseMap(Map.of(
                "walkeeper.trace.enabled", false, "walkeeper.trace.file", dir.resolve("t").toString())));

        trace.stamp(Stage.NODE_READ, 100);
        trace.stamp(Stage.BRIDGE_APPEND_SENT, 100, 2);
        trace.stampAt(Stage.NODE_READ, 100, trace.now());

        assertSame(CommitTrace.DISABLED, trace);
        assertFalse(trace.enabled());
        assertEquals(0, trace.now());
        assertEquals(Optional.empty(), trace.snapshot());
        assertEquals(Optional.empty(), trace.write());
        assertFalse(Files.exists(dir.resolve("t")));
    }

    @Test
    void withoutTraceSettingsItIsDisabled() {
        assertSame(CommitTrace.DISABLED, CommitTrace.fromConfig(ConfigFactory.empty()));
    }

    @Test
    void enabledTheSystemWritesItsTraceFileWhenItTerminates() throws IOException {
        Path file = dir.resolve("node3.trace");
        ActorTestKit testKit = ActorTestKit.create(ConfigFactory.parseMap(Map.of(
                "walkeeper.trace.enabled", true, "walkeeper.trace.file", file.toString(),
                "walkeeper.trace.max-events", 10, "walkeeper.trace.source", "node3", "walkeeper.trace.node", 2)));
        CommitTrace trace = CommitTrace.get(testKit.system());
        assertSame(trace, CommitTrace.get(testKit.system()));
        assertTrue(trace.enabled());
        long read = trace.now();
        trace.stamp(Stage.NODE_DECODED, 200);
        trace.stampAt(Stage.NODE_READ, 200, read);
        trace.stamp(Stage.BRIDGE_APPEND_SENT, 200, 1);

        testKit.shutdownTestKit();

        TraceLog log = TraceFile.read(file);
        assertEquals("node3", log.source());
        assertEquals(3, log.size());
        assertEquals(Stage.NODE_DECODED, log.stage(0));
        assertEquals(2, log.node(0));
        assertEquals(Stage.NODE_READ, log.stage(1));
        assertEquals(read, log.nanos(1));
        assertEquals(200, log.lsn(1));
        assertEquals(1, log.node(2));
    }

    @Test
    void loadedAtStartupItWritesAnEmptyTraceWhenNothingStamped() throws IOException {
        Path file = dir.resolve("idle.trace");
        ActorTestKit testKit = ActorTestKit.create(ConfigFactory.parseMap(Map.of(
                "walkeeper.trace.enabled", true, "walkeeper.trace.file", file.toString(),
                "walkeeper.trace.max-events", 10, "walkeeper.trace.source", "idle", "walkeeper.trace.node", 0,
                // as cluster-config's reference.conf loads it
                "pekko.actor.typed.library-extensions", List.of(CommitTrace.Id.class.getName()))));

        testKit.shutdownTestKit();

        TraceLog log = TraceFile.read(file);
        assertEquals("idle", log.source());
        assertEquals(0, log.size());
    }
}
