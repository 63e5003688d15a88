package dev.walkeeper.persistence.wal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PgBinaries;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The downstream's file layer for pushed WAL: PostgreSQL-named full-size segments, {@code .partial}
 * until complete, idempotent re-pushes, refused gaps and divergent bytes, the durable end found
 * again after a restart, and pg_waldump reading what it wrote.
 */
class ReceivedWalWriterTest {
    private static final int SEG = 1 << 20;
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final Lsn SEG1 = new Lsn(SEG);

    /** Generated WAL from the start of segment 1, {@code approxBytes} of NOOP records. */
    private static byte[] wal(int approxBytes) {
        WalGenerator generator = new WalGenerator(FORMAT, SEG1, 300);
        return generator.nextRecords(approxBytes);
    }

    /** Pushes {@code bytes} (from segment 1) in chunks of at most {@code chunk} bytes. */
    private static void push(ReceivedWalWriter writer, byte[] bytes, int from, int to, int chunk) throws IOException {
        for (int at = from; at < to; at += chunk) {
            int n = Math.min(chunk, to - at);
            writer.write(SEG1.plus(at), ByteSlice.of(bytes, at, n));
        }
    }

    private static String name(long segNo) {
        return XLogFileName.of(1, segNo, SEG);
    }

    private static List<String> files(Path dir) throws IOException {
        try (Stream<Path> list = Files.list(dir)) {
            return list.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** The bytes stored from segment 1 on, read from whichever name each segment file has. */
    private static byte[] stored(Path dir, int length) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (long segNo = 1; out.size() < length; segNo++) {
            Path file = dir.resolve(name(segNo));
            if (!Files.exists(file)) {
                file = dir.resolve(name(segNo) + XLogFileName.PARTIAL_SUFFIX);
            }
            out.writeBytes(Files.readAllBytes(file));
        }
        return Arrays.copyOf(out.toByteArray(), length);
    }

    @Test
    void writesFullSizeSegmentsAndNamesTheOneBeingWrittenPartial(@TempDir Path dir) throws IOException {
        byte[] bytes = wal(2 * SEG + SEG / 2);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            assertTrue(writer.isEmpty());
            assertEquals(Lsn.INVALID, writer.startLsn());
            push(writer, bytes, 0, bytes.length, 100_000);
            assertEquals(SEG1.plus(bytes.length), writer.writeLsn());
            assertEquals(SEG1.plus(bytes.length), writer.flush());
            assertEquals(SEG1.plus(bytes.length), writer.startLsn());
        }
        assertEquals(List.of(name(1), name(2), name(3) + ".partial"), files(dir));
        for (String file : files(dir)) {
            assertEquals(SEG, Files.size(dir.resolve(file)), file);
        }
        assertArrayEquals(bytes, stored(dir, bytes.length));
        // The rest of the partial segment is still zeros.
        byte[] partial = Files.readAllBytes(dir.resolve(name(3) + ".partial"));
        int used = bytes.length - 2 * SEG;
        assertTrue(Arrays.equals(new byte[SEG - used], Arrays.copyOfRange(partial, used, SEG)));
    }

    @Test
    void aSegmentGetsItsFinalNameExactlyWhenItsLastByteIsWritten(@TempDir Path dir) throws IOException {
        byte[] bytes = wal(SEG + 10_000);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            writer.write(SEG1, ByteSlice.of(Arrays.copyOf(bytes, SEG - 1)));
            assertEquals(List.of(name(1) + ".partial"), files(dir));
            writer.write(SEG1.plus(SEG - 1), ByteSlice.of(Arrays.copyOfRange(bytes, SEG - 1, SEG)));
            assertEquals(List.of(name(1)), files(dir));
            writer.write(SEG1.plus(SEG), ByteSlice.of(bytes, SEG, 1));
            assertEquals(List.of(name(1), name(2) + ".partial"), files(dir));
        }
    }

    @Test
    void rePushedBytesAreVerifiedAndSkippedNeverWrittenTwice(@TempDir Path dir) throws IOException {
        byte[] bytes = wal(SEG + SEG / 2);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            push(writer, bytes, 0, 600_000, 128 * 1024);
            writer.flush();
            // Entirely below the end, in a completed segment and in the partial one.
            assertEquals(0, writer.write(SEG1.plus(4096), ByteSlice.of(Arrays.copyOfRange(bytes, 4096, 300_000))));
            assertEquals(0, writer.write(SEG1, ByteSlice.of(Arrays.copyOf(bytes, 600_000))));
            // Overlapping the end: only the new part is appended.
            assertEquals(100_000, writer.write(SEG1.plus(550_000), ByteSlice.of(Arrays.copyOfRange(bytes, 550_000, 700_000))));
            assertEquals(SEG1.plus(700_000), writer.writeLsn());
            // An overlap across the segment boundary, then the rest.
            push(writer, bytes, 700_000, SEG + 1000, 65_536);
            assertEquals(0, writer.write(SEG1.plus(SEG - 500), ByteSlice.of(bytes, SEG - 500, 1500)));
            push(writer, bytes, SEG - 8192, bytes.length, 128 * 1024);
            assertEquals(SEG1.plus(bytes.length), writer.writeLsn());
        }
        assertArrayEquals(bytes, stored(dir, bytes.length));
    }

    @Test
    void divergentBytesAreRefusedAndNothingIsOverwritten(@TempDir Path dir) throws IOException {
        byte[] bytes = wal(200_000);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            writer.write(SEG1, ByteSlice.of(bytes));
            // A view from the middle of its array, as a decoded XLogData is.
            byte[] other = bytes.clone();
            other[2234] ^= 1;
            WalMismatchException e = assertThrows(WalMismatchException.class,
                    () -> writer.write(SEG1.plus(1000), ByteSlice.of(other, 1000, 4000)));
            assertTrue(e.getMessage().contains(SEG1.plus(2234).toString()), e.getMessage());
            assertEquals(SEG1.plus(bytes.length), writer.writeLsn());
            writer.flush();
        }
        assertArrayEquals(bytes, stored(dir, bytes.length));
    }

    @Test
    void aGapIsRefusedWithTheLsnsInvolved(@TempDir Path dir) throws IOException {
        byte[] bytes = wal(100_000);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            WalGapException notAligned = assertThrows(WalGapException.class,
                    () -> writer.write(SEG1.plus(8192), ByteSlice.of(bytes)));
            assertTrue(notAligned.getMessage().contains("segment boundary"), notAligned.getMessage());
            assertThrows(WalGapException.class, () -> writer.write(Lsn.INVALID, ByteSlice.of(bytes)));
            assertTrue(writer.isEmpty());

            writer.write(SEG1, ByteSlice.of(Arrays.copyOf(bytes, 50_000)));
            WalGapException gap = assertThrows(WalGapException.class,
                    () -> writer.write(SEG1.plus(50_001), ByteSlice.of(Arrays.copyOfRange(bytes, 50_001, 60_000))));
            assertTrue(gap.getMessage().contains(SEG1.plus(50_001) + " would leave a gap after " + SEG1.plus(50_000)),
                    gap.getMessage());
            assertEquals(SEG1.plus(50_000), writer.writeLsn());
        }
    }

    @Test
    void afterARestartTheDurableEndIsFoundFromTheFiles(@TempDir Path dir) throws IOException {
        byte[] bytes = wal(3 * SEG + 5000);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            push(writer, bytes, 0, 2 * SEG, 128 * 1024);
            writer.flush();
        }
        // Two complete segments and nothing after: the end is exactly theirs.
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            assertFalse(writer.isEmpty());
            assertEquals(SEG1.plus(2 * SEG), writer.startLsn());
            assertEquals(SEG1.plus(2 * SEG), writer.writeLsn());
            push(writer, bytes, 2 * SEG, 2 * SEG + 300_000, 128 * 1024);
            writer.flush();
        }
        // Partial segment 3 (maybe torn after a crash): the end is its start, where pg_receivewal
        // restarts too; the re-push overwrites its bytes, and a leftover .tmp is removed.
        Files.write(dir.resolve(name(4) + ".tmp"), new byte[10]);
        byte[] tail = Files.readAllBytes(dir.resolve(name(3) + ".partial"));
        tail[250_000] ^= 0x55; // a torn write beyond what was acknowledged after the restart
        Files.write(dir.resolve(name(3) + ".partial"), tail);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            assertEquals(SEG1.plus(2 * SEG), writer.startLsn());
            assertEquals(List.of(name(1), name(2), name(3) + ".partial"), files(dir));
            push(writer, bytes, 2 * SEG, bytes.length, 128 * 1024);
            writer.flush();
        }
        assertArrayEquals(bytes, stored(dir, bytes.length));
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            assertEquals(SEG1.plus(3 * SEG), writer.startLsn());
        }
    }

    @Test
    void anEmptyOrMissingDirectoryHasNoStart(@TempDir Path dir) throws IOException {
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir.resolve("a/b"), SEG)) {
            assertTrue(writer.isEmpty());
            assertEquals(Lsn.INVALID, writer.startLsn());
        }
        assertTrue(Files.isDirectory(dir.resolve("a/b")));
    }

    @Test
    void filesNotLeftByAPushAreRefusedOnOpen(@TempDir Path dir) throws IOException {
        Files.write(dir.resolve(name(1)), new byte[SEG / 2]);
        IOException shortFile = assertThrows(IOException.class, () -> ReceivedWalWriter.open(dir, SEG));
        assertTrue(shortFile.getMessage().contains("not the segment size"), shortFile.getMessage());
        Files.delete(dir.resolve(name(1)));

        Files.write(dir.resolve(name(1) + ".partial"), new byte[SEG]);
        Files.write(dir.resolve(name(2)), new byte[SEG]);
        IOException order = assertThrows(IOException.class, () -> ReceivedWalWriter.open(dir, SEG));
        assertTrue(order.getMessage().contains("follows the partial segment"), order.getMessage());
    }

    @Test
    void aFinalNameWinsOverAStalePartialCopy(@TempDir Path dir) throws IOException {
        byte[] bytes = wal(SEG + 100);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            push(writer, bytes, 0, bytes.length, 128 * 1024);
            writer.flush();
        }
        Files.write(dir.resolve(name(1) + ".partial"), new byte[SEG]);
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            assertEquals(SEG1.plus(SEG), writer.startLsn());
        }
        assertEquals(List.of(name(1), name(2) + ".partial"), files(dir));
    }

    /**
     * pg_waldump, the independent judge, reads every record from the completed segments (the
     * output serves restore_command as it is), and from the partial one once it is given its name.
     */
    @Test
    void pgWaldumpReadsTheReceivedSegments(@TempDir Path dir, @TempDir Path copy) throws IOException {
        WalGenerator generator = new WalGenerator(FORMAT, SEG1, 0);
        ByteArrayOutputStream wal = new ByteArrayOutputStream();
        Random random = new Random(5);
        int beforeSwitch = 0;
        while (generator.position().value() < 3 * SEG + SEG / 2) {
            wal.writeBytes(generator.nextRecord(random.nextInt(20_000)));
            beforeSwitch++;
        }
        wal.writeBytes(generator.switchSegment()); // segment 3 ends here, at the end of its file
        int inLast = 0;
        while (generator.position().value() < 4 * SEG + SEG / 3) {
            wal.writeBytes(generator.nextRecord(random.nextInt(3000)));
            inLast++;
        }
        byte[] bytes = wal.toByteArray();
        try (ReceivedWalWriter writer = ReceivedWalWriter.open(dir, SEG)) {
            // Chunks cut as a walsender cuts them: at page boundaries, at most 128 KiB.
            int at = 0;
            while (at < bytes.length) {
                int n = Math.min(WalReader.MAX_SEND_SIZE, bytes.length - at);
                writer.write(SEG1.plus(at), ByteSlice.of(bytes, at, n));
                at += n;
            }
            writer.flush();
        }
        assertEquals(List.of(name(1), name(2), name(3), name(4) + ".partial"), files(dir));

        ProcessResult complete = waldump(dir, name(1), name(3));
        assertEquals(0, complete.exitCode(), complete.stderr());
        List<String> records = complete.stdout().lines().filter(l -> l.startsWith("rmgr:")).toList();
        assertEquals(beforeSwitch + 1, records.size());
        assertTrue(records.get(records.size() - 1).contains("desc: SWITCH"), records.get(records.size() - 1));

        for (String file : files(dir)) {
            Files.copy(dir.resolve(file), copy.resolve(file.replace(".partial", "")));
        }
        ProcessResult all = waldump(copy, name(1), name(4));
        List<String> allRecords = all.stdout().lines().filter(l -> l.startsWith("rmgr:")).toList();
        assertEquals(beforeSwitch + 1 + inLast, allRecords.size(), all.stderr());
        assertTrue(all.stderr().contains("invalid record length at " + generator.position() + ": "), all.stderr());
    }

    private static ProcessResult waldump(Path dir, String first, String last) {
        return Processes.run(Command.of(PgBinaries.require().bin("pg_waldump").toString(), "-p", dir.toString(),
                first, last).timeout(Duration.ofSeconds(60)));
    }
}
