package dev.walkeeper.persistence.wal;

import java.io.IOException;
import java.nio.channels.FileChannel;

/**
 * How a WAL segment's written bytes are made durable: {@link FileChannel#force}, unless a test
 * substitutes a sync that blocks or fails.
 */
@FunctionalInterface
public interface FileSync {
    FileSync FORCE = FileChannel::force;

    void force(FileChannel channel, boolean metaData) throws IOException;
}
