package dev.walkeeper.actors.trace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TraceRecorderTest {
    @Test
    void stampsFromSeveralThreadsAllLandAndTheRestIsCountedAsDropped() throws InterruptedException {
        TraceRecorder recorder = new TraceRecorder("node", 3000, 0);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            int node = t;
            Thread thread = new Thread(() -> {
                for (int i = 0; i < 1000; i++) {
                    recorder.stamp(Stage.NODE_WRITTEN, i, node);
                }
            });
            thread.start();
            threads.add(thread);
        }
        for (Thread thread : threads) {
            thread.join();
        }

        TraceLog log = recorder.snapshot();

        assertEquals(3000, log.size());
        assertEquals(1000, log.dropped());
        Set<Long> distinct = new HashSet<>();
        for (int i = 0; i < log.size(); i++) {
            assertEquals(Stage.NODE_WRITTEN, log.stage(i));
            distinct.add(log.node(i) * 10_000L + log.lsn(i));
        }
        assertEquals(3000, distinct.size());
    }

    @Test
    void aNodeIndexOutsideAByteIsRefused() {
        TraceRecorder recorder = new TraceRecorder("bridge", 10, 0);

        assertThrows(IllegalArgumentException.class, () -> recorder.stamp(Stage.BRIDGE_APPEND_SENT, 1, 128));
        assertThrows(IllegalArgumentException.class, () -> new TraceRecorder("node", 10, -1));
    }
}
