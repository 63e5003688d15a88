package dev.walkeeper.persistence.wal;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The segment files of a {@link SegmentedWalStore}'s timeline directory: their names, listing,
 * creation, and the cut that makes an LSN the end of the stored WAL (used by both
 * {@link SegmentedWalStore#truncate} and {@link SegmentedWalStore#open}).
 */
final class SegmentDirectory {
    private final Path dir;
    private final WalFormat format;
    private final int segmentSize;

    private SegmentDirectory(Path dir, WalFormat format) {
        this.dir = dir;
        this.format = format;
        this.segmentSize = format.walSegSize();
    }

    /** Creates {@code timelineDir} if missing, durably (every directory created is fsynced in its parent). */
    static SegmentDirectory create(Path timelineDir, WalFormat format) throws IOException {
        Path dir = timelineDir.toAbsolutePath().normalize();
        Path existing = dir;
        while (!Files.isDirectory(existing)) {
            existing = existing.getParent();
        }
        Files.createDirectories(dir);
        for (Path created = dir; !created.equals(existing); created = created.getParent()) {
            SegmentFiles.fsyncDirectory(created.getParent()); // its entry must survive a crash too
        }
        return new SegmentDirectory(dir, format);
    }

    Path dir() {
        return dir;
    }

    /** Our segment files by number; where both names exist, the {@code .partial} one. */
    NavigableMap<Long, Path> list() throws IOException {
        NavigableMap<Long, Path> segments = new TreeMap<>();
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir)) {
            for (Path file : files) {
                String name = file.getFileName().toString();
                boolean partial = XLogFileName.isPartialWalFileName(name);
                if (!partial && !XLogFileName.isWalFileName(name) || XLogFileName.timeline(name) != format.timeline()) {
                    continue;
                }
                long segNo;
                try {
                    segNo = XLogFileName.segNo(name, segmentSize);
                } catch (IllegalArgumentException e) {
                    throw new IOException("unexpected WAL file " + file + " for " + segmentSize + "-byte segments", e);
                }
                if (partial || !segments.containsKey(segNo)) {
                    segments.put(segNo, file);
                }
            }
        }
        return segments;
    }

    /** A new, full-size, zero-filled {@code .partial} segment, durably in place. */
    OpenSegment createSegment(long segNo) throws IOException {
        return new OpenSegment(segNo, SegmentFiles.createPreallocated(dir, name(segNo), segmentSize));
    }

    /**
     * Makes {@code end} the end of the stored WAL: deletes the segments after it, fsyncs the
     * {@code .partial} segments before the one holding {@code end} (filled, maybe never synced) and
     * gives them their final names, cuts the segment holding {@code end} there and extends it back
     * to full size (the rest reads as zeros, at O(1) cost instead of writing up to a segment of
     * zeros), names it {@code .partial}; everything fsynced, the directory last.
     *
     * @return the segment holding {@code end}, open for writing; null when {@code end} is at a
     *     segment boundary
     */
    OpenSegment cutAt(long end, NavigableMap<Long, Path> segments) throws IOException {
        long endSegNo = end / segmentSize;
        int endOffset = (int) (end % segmentSize);
        long lastKept = endOffset == 0 ? endSegNo - 1 : endSegNo;
        if (endOffset != 0 && !segments.containsKey(endSegNo)) {
            throw new IOException("no segment file holds " + new Lsn(end) + " in " + dir);
        }
        for (Path file : segments.tailMap(lastKept, false).descendingMap().values()) {
            Files.delete(file);
        }
        for (Map.Entry<Long, Path> entry : segments.headMap(endSegNo, false).entrySet()) {
            Path before = entry.getValue();
            // At a segment boundary the one ending there is the open segment's equivalent: synced here.
            if (isPartial(before) || entry.getKey() == endSegNo - 1 && endOffset == 0) {
                try (FileChannel channel = FileChannel.open(before, StandardOpenOption.WRITE)) {
                    channel.force(true);
                }
                if (isPartial(before)) {
                    Files.move(before, finalPath(entry.getKey()), StandardCopyOption.ATOMIC_MOVE);
                }
            }
        }
        OpenSegment current = null;
        if (endOffset != 0) {
            Path file = segments.get(endSegNo);
            OpenSegment segment = new OpenSegment(endSegNo, file);
            try {
                segment.file.setLength(endOffset);
                segment.file.setLength(segmentSize);
                segment.channel.force(true);
                if (!isPartial(file)) {
                    Files.move(file, partialPath(endSegNo), StandardCopyOption.ATOMIC_MOVE);
                }
            } catch (IOException | RuntimeException e) {
                segment.close();
                throw e;
            }
            current = segment;
        }
        SegmentFiles.fsyncDirectory(dir);
        return current;
    }

    /** Deletes {@code segments} (created but never written), durably. */
    void deleteAll(NavigableMap<Long, Path> segments) throws IOException {
        for (Path file : segments.values()) {
            Files.delete(file);
        }
        if (!segments.isEmpty()) {
            SegmentFiles.fsyncDirectory(dir);
        }
    }

    /** Segment {@code segNo}'s file name, without a suffix. */
    String name(long segNo) {
        return XLogFileName.of(format.timeline(), segNo, segmentSize);
    }

    Path finalPath(long segNo) {
        return dir.resolve(name(segNo));
    }

    Path partialPath(long segNo) {
        return dir.resolve(name(segNo) + XLogFileName.PARTIAL_SUFFIX);
    }

    static boolean isPartial(Path file) {
        return file.getFileName().toString().endsWith(XLogFileName.PARTIAL_SUFFIX);
    }
}
