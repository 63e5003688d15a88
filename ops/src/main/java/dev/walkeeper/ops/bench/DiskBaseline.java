package dev.walkeeper.ops.bench;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The raw disk: a plain loop of write(size) + fdatasync into a preallocated file on the same
 * filesystem — what one durable append costs with nothing in between. The file is zero-filled as
 * PostgreSQL and pg_receivewal make their WAL segments (the fastest case for fdatasync: no block
 * allocation to journal), or sparse as the node makes a segment it needs at once or under large
 * writes. The loop wraps around within the file.
 */
final class DiskBaseline {
    record Result(double mbPerSecond, LatencyHistogram latencies) {}

    private DiskBaseline() {}

    static Result run(Path dir, int size, long nanos, boolean zeroFilled) throws IOException {
        Path file = dir.resolve("baseline-" + size);
        long fileSize = 64L << 20;
        byte[] bytes = new byte[size];
        ThreadLocalRandom.current().nextBytes(bytes);
        ByteBuffer buffer = ByteBuffer.wrap(bytes);
        LatencyHistogram latencies = new LatencyHistogram();
        long written = 0;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.READ)) {
            if (zeroFilled) {
                ByteBuffer zeros = ByteBuffer.allocateDirect(1 << 20);
                for (long at = 0; at < fileSize; at += zeros.capacity()) {
                    zeros.clear();
                    while (zeros.hasRemaining()) {
                        channel.write(zeros, at + zeros.position());
                    }
                }
            } else {
                channel.write(ByteBuffer.wrap(new byte[1]), fileSize - 1);
            }
            channel.force(true);
            long start = System.nanoTime();
            long position = 0;
            while (System.nanoTime() - start < nanos) {
                long t0 = System.nanoTime();
                buffer.rewind();
                while (buffer.hasRemaining()) {
                    position += channel.write(buffer, position);
                }
                channel.force(false);
                latencies.record(System.nanoTime() - t0);
                written += size;
                if (position + size > fileSize) {
                    position = 0;
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            return new Result(written / seconds / 1e6, latencies);
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
