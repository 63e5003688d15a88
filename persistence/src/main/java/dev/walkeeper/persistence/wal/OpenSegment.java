package dev.walkeeper.persistence.wal;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/** A segment file of {@link SegmentedWalStore} open for writing; {@code dirty} while it holds writes not yet fsynced. */
final class OpenSegment {
    final long segNo;
    final RandomAccessFile file;
    final FileChannel channel;
    boolean dirty;

    OpenSegment(long segNo, Path path) throws IOException {
        this.segNo = segNo;
        this.file = new RandomAccessFile(path.toFile(), "rw");
        this.channel = file.getChannel();
    }

    void close() throws IOException {
        file.close();
    }
}
