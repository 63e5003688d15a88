package dev.walkeeper.actors.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TraceFileTest {
    @TempDir
    Path dir;

    @Test
    void aWrittenLogReadsBackIdentical() throws IOException {
        TraceRecorder recorder = new TraceRecorder("node2", 3, 2);
        recorder.stamp(Stage.NODE_DECODED, 0x1000028L);
        recorder.stamp(Stage.BRIDGE_APPEND_SENT, Long.MAX_VALUE, 127);
        recorder.stampAt(Stage.LOAD_ACKED, 42, 0, -5);
        recorder.stamp(Stage.FSYNC_DONE, 7); // beyond max-events: dropped
        TraceLog log = recorder.snapshot();
        Path file = dir.resolve("sub/node2.trace");

        TraceFile.write(log, file);
        TraceLog read = TraceFile.read(file);

        assertEquals(log, read);
        assertEquals("node2", read.source());
        assertEquals(1, read.dropped());
        assertEquals(3, read.size());
        assertEquals(Stage.BRIDGE_APPEND_SENT, read.stage(1));
        assertEquals(127, read.node(1));
        assertEquals(2, read.node(0));
        assertEquals(-5, read.nanos(2));
        assertEquals(log.clockEpochNanos(), read.clockEpochNanos());
    }

    @Test
    void aFileThatIsNoTraceIsRefused() throws IOException {
        Path file = Files.write(dir.resolve("junk"), new byte[] {1, 2, 3, 4, 5, 6, 7, 8});

        assertThrows(IOException.class, () -> TraceFile.read(file));
    }

    @Test
    void anEventCountBeyondTheFileIsRefusedBeforeAllocating() throws IOException {
        Path file = dir.resolve("cut.trace");
        TraceRecorder recorder = new TraceRecorder("cut", 10, 0);
        recorder.stamp(Stage.LOAD_SENT, 1);
        TraceFile.write(recorder.snapshot(), file);
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, java.util.Arrays.copyOf(bytes, bytes.length - 1));

        assertThrows(IOException.class, () -> TraceFile.read(file));
    }
}
