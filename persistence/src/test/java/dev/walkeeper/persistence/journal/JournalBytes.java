package dev.walkeeper.persistence.journal;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Raw access to journal files, to damage them the way crashes and disks do. */
final class JournalBytes {

    private JournalBytes() {
    }

    /** Start offsets of the records of a well-formed journal file. */
    static List<Long> recordOffsets(Path journal) throws IOException {
        List<Long> offsets = new ArrayList<>();
        try (RandomAccessFile file = new RandomAccessFile(journal.toFile(), "r")) {
            long position = JournalFile.MAGIC.length;
            while (position < file.length()) {
                offsets.add(position);
                file.seek(position);
                position += JournalFile.FRAME_HEADER_SIZE + file.readInt();
            }
        }
        return offsets;
    }

    static void append(Path file, byte[] bytes) throws IOException {
        Files.write(file, bytes, StandardOpenOption.APPEND);
    }

    static byte[] read(Path file, long from, long to) throws IOException {
        byte[] all = Files.readAllBytes(file);
        return Arrays.copyOfRange(all, (int) from, (int) to);
    }

    /** Inverts the bits of the byte at {@code offset}. */
    static void flip(Path file, long offset) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.seek(offset);
            int original = raf.read();
            raf.seek(offset);
            raf.write(~original & 0xff);
        }
    }
}
