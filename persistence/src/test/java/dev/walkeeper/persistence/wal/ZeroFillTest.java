package dev.walkeeper.persistence.wal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Segments are created with their zeros written: no holes for a later fdatasync to allocate. */
class ZeroFillTest {
    private static final int SEG = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void fillWritesZerosOverTheRangeOnly() throws IOException {
        Path file = dir.resolve("f");
        byte[] ones = new byte[3 << 20];
        Arrays.fill(ones, (byte) 1);
        Files.write(file, ones);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ZeroFill.fill(channel, 100, (2 << 20) + 7);
        }
        byte[] after = Files.readAllBytes(file);
        assertEquals(ones.length, after.length);
        for (int i = 0; i < after.length; i++) {
            boolean zeroed = i >= 100 && i < (2 << 20) + 7;
            assertEquals(zeroed ? 0 : 1, after[i], "byte " + i);
        }
    }

    @Test
    void aNewSegmentHasEveryBlockAllocated() throws Exception {
        WalFormat format = new WalFormat(150018, 7000000000000000001L, SEG, 1);
        try (SegmentedWalStore store = SegmentedWalStore.open(dir, format, Lsn.INVALID)) {
            store.initialize(new Lsn(SEG));
            store.flush();
        }
        Path segment;
        try (Stream<Path> files = Files.list(dir)) {
            segment = files.filter(p -> p.getFileName().toString().startsWith("0000")).findFirst().orElseThrow();
        }
        assertEquals(SEG, Files.size(segment));
        long allocated = allocatedBytes(segment);
        assertTrue(allocated >= SEG, segment + ": " + allocated + " bytes allocated of " + SEG + " (a sparse file)");
        byte[] tail = new byte[4096];
        try (FileChannel channel = FileChannel.open(segment)) {
            channel.read(ByteBuffer.wrap(tail), SEG - tail.length);
        }
        assertArrayEquals(new byte[tail.length], tail);
    }

    /** The file's allocated size as stat(1) reports it (st_blocks × 512); the test needs GNU stat. */
    private static long allocatedBytes(Path file) throws Exception {
        Process stat;
        try {
            stat = new ProcessBuilder(List.of("stat", "-c", "%b %B", file.toString())).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "no stat command: " + e.getMessage());
            return 0;
        }
        String[] out = new String(stat.getInputStream().readAllBytes()).trim().split("\\s+");
        assertEquals(0, stat.waitFor(), String.join(" ", out));
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }
}
