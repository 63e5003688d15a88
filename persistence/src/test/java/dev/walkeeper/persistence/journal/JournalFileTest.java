package dev.walkeeper.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The journal file format: what a crash can leave behind is cut off, anything else is refused. */
class JournalFileTest {

    @TempDir
    Path dir;

    private Path path() {
        return dir.resolve("journal").resolve(FileJournal.FILE_NAME);
    }

    private static JournalRecord events(String persistenceId, long... sequenceNrs) {
        List<JournalRecord.Event> events = new ArrayList<>();
        for (long sequenceNr : sequenceNrs) {
            events.add(new JournalRecord.Event(sequenceNr, ("payload " + sequenceNr).getBytes(StandardCharsets.UTF_8)));
        }
        return new JournalRecord.Events(persistenceId, events);
    }

    /** Writes {@code records}, one append each, and returns the file size. */
    private long write(JournalRecord... records) throws IOException {
        try (JournalFile file = JournalFile.open(path(), record -> { })) {
            for (JournalRecord record : records) {
                file.append(List.of(record.encode()));
            }
            return file.size();
        }
    }

    private List<JournalRecord> reopen() throws IOException {
        List<JournalRecord> read = new ArrayList<>();
        JournalFile.open(path(), read::add).close();
        return read;
    }

    private static String describe(List<JournalRecord> records) {
        StringBuilder text = new StringBuilder();
        for (JournalRecord record : records) {
            if (record instanceof JournalRecord.Events events) {
                text.append(events.persistenceId()).append(':');
                events.events().forEach(event -> text.append(event.sequenceNr()).append(','));
            } else if (record instanceof JournalRecord.Deletion deletion) {
                text.append(deletion.persistenceId()).append(":deleted to ").append(deletion.toSequenceNr());
            }
            text.append(' ');
        }
        return text.toString().trim();
    }

    @Test
    void recordsComeBackInOrderAndGroupedAsWritten() throws IOException {
        try (JournalFile file = JournalFile.open(path(), record -> { })) {
            file.append(List.of(events("a", 1, 2, 3).encode(), events("b", 1).encode()));
            file.append(List.of(new JournalRecord.Deletion("a", 2).encode()));
        }
        assertEquals("a:1,2,3, b:1, a:deleted to 2", describe(reopen()));
        JournalRecord.Events first = (JournalRecord.Events) reopen().get(0);
        assertArrayEquals("payload 2".getBytes(StandardCharsets.UTF_8), first.events().get(1).serialized());
    }

    static Stream<Arguments> tornTails() {
        return Stream.of(
                Arguments.of("part of a frame header", (TailMaker) last -> Arrays.copyOf(last, 3)),
                Arguments.of("a frame cut short", (TailMaker) last -> Arrays.copyOf(last, last.length - 1)),
                Arguments.of("a complete frame with a garbled end", (TailMaker) last -> {
                    byte[] garbled = last.clone();
                    garbled[garbled.length - 1] ^= 0x55;
                    return garbled;
                }),
                Arguments.of("zeros the file system allocated", (TailMaker) last -> new byte[4096]));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tornTails")
    void aTornTailIsTruncatedAndTheFileWritableAgain(String description, TailMaker tail) throws IOException {
        long intact = write(events("a", 1), events("a", 2));
        List<Long> offsets = JournalBytes.recordOffsets(path());
        byte[] last = JournalBytes.read(path(), offsets.get(1), intact);
        JournalBytes.append(path(), tail.make(last));

        assertEquals("a:1, a:2,", describe(reopen()));
        assertEquals(intact, Files.size(path()));
        write(events("a", 3));
        assertEquals("a:1, a:2, a:3,", describe(reopen()));
    }

    @Test
    void aCrcMismatchBeforeTheTailIsCorruptionNamingFileAndOffset() throws IOException {
        long size = write(events("a", 1), events("a", 2), events("a", 3));
        long second = JournalBytes.recordOffsets(path()).get(1);
        JournalBytes.flip(path(), second + JournalFile.FRAME_HEADER_SIZE + 2);

        CorruptFileException corrupt = assertThrows(CorruptFileException.class, this::reopen);
        assertEquals(path(), corrupt.file());
        assertEquals(second, corrupt.offset());
        assertTrue(corrupt.getMessage().contains(path() + " at offset " + second), corrupt.getMessage());
        assertEquals(size, Files.size(path()), "nothing truncated");
    }

    @Test
    void anImpossibleLengthBeforeTheTailIsCorruption() throws IOException {
        write(events("a", 1), events("a", 2));
        long first = JournalBytes.recordOffsets(path()).get(0);
        JournalBytes.flip(path(), first); // the length's top byte: far beyond the record size limit

        CorruptFileException corrupt = assertThrows(CorruptFileException.class, this::reopen);
        assertEquals(first, corrupt.offset());
        assertTrue(corrupt.getMessage().startsWith("invalid record length"), corrupt.getMessage());
    }

    @Test
    void aFileWithoutTheHeaderIsRefused() throws IOException {
        Files.createDirectories(path().getParent());
        Files.write(path(), "not a journal".getBytes(StandardCharsets.US_ASCII));

        CorruptFileException corrupt = assertThrows(CorruptFileException.class, this::reopen);
        assertEquals(0, corrupt.offset());
    }

    @Test
    void rewriteReplacesTheFileWithExactlyTheGivenRecords() throws IOException {
        try (JournalFile file = JournalFile.open(path(), record -> { })) {
            file.append(List.of(events("a", 1).encode(), events("a", 2).encode(), events("b", 1).encode()));
            file.rewrite(List.of(new JournalRecord.Deletion("a", 1), events("a", 2), events("b", 1)));
            file.append(List.of(events("b", 2).encode()));
            assertEquals(Files.size(path()), file.size());
        }
        assertEquals("a:deleted to 1 a:2, b:1, b:2,", describe(reopen()));
        try (Stream<Path> files = Files.list(path().getParent())) {
            assertEquals(List.of(path()), files.toList(), "no temporary file left");
        }
    }

    @Test
    void aRecordOverTheLimitIsRefusedBeforeAnythingIsWritten() throws IOException {
        try (JournalFile file = JournalFile.open(path(), record -> { })) {
            long size = file.size();
            byte[] huge = new byte[JournalFile.MAX_RECORD_SIZE + 1];
            assertThrows(IllegalArgumentException.class, () -> file.append(List.of(events("a", 1).encode(), huge)));
            assertEquals(size, Files.size(path()));
            file.append(List.of(events("a", 1).encode()));
        }
        assertFalse(reopen().isEmpty());
    }

    @Test
    void aNewFileStartsWithItsHeader() throws IOException {
        assertEquals(JournalFile.MAGIC.length, write());
        assertEquals(ByteBuffer.wrap(JournalFile.MAGIC), ByteBuffer.wrap(Files.readAllBytes(path())));
    }

    @FunctionalInterface
    interface TailMaker {
        /** What a crash leaves after the intact records, given the bytes of the last record. */
        byte[] make(byte[] lastRecord);
    }
}
