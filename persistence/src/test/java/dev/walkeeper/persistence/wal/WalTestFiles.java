package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

/** The WAL directory as the store tests see it: timeline 1, segments of {@link #SEG} bytes. */
final class WalTestFiles {
    /** Small segments, so that tests cross segment boundaries cheaply. */
    static final int SEG = 1 << 20;

    private WalTestFiles() {}

    /** The names of the files in {@code dir}, sorted. */
    static Set<String> fileNames(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(p -> p.getFileName().toString()).collect(TreeSet::new, Set::add, Set::addAll);
        }
    }

    /** The name of complete segment {@code segNo}. */
    static String name(long segNo) {
        return XLogFileName.of(1, segNo, SEG);
    }

    /** The name of segment {@code segNo} while it is still being written. */
    static String partial(long segNo) {
        return name(segNo) + XLogFileName.PARTIAL_SUFFIX;
    }
}
