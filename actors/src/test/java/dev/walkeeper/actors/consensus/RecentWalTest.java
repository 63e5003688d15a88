package dev.walkeeper.actors.consensus;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.Seeds;
import java.io.ByteArrayOutputStream;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** {@link RecentWal} against a model that keeps every byte ever appended. */
class RecentWalTest {

    static LongStream seeds() {
        return Seeds.seeds();
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void holdsTheLastCapacityBytesAndTheLastAppend(long seed) {
        try {
            SplittableRandom random = new SplittableRandom(seed);
            long capacity = random.nextInt(4) == 0 ? random.nextInt(8) : random.nextInt(1, 3000);
            RecentWal recent = new RecentWal(capacity, random.nextInt(1, 700));
            long base = random.nextLong(0, 1L << 40);
            Lsn first = new Lsn(base);
            recent.restart(first);
            ByteArrayOutputStream model = new ByteArrayOutputStream();
            Lsn end = first;
            for (int step = 0; step < 200; step++) {
                if (random.nextInt(40) == 0) { // a new term: the WAL goes on from elsewhere
                    base = random.nextLong(0, 1L << 40);
                    first = new Lsn(base);
                    end = first;
                    recent.restart(first);
                    model.reset();
                }
                byte[] wal = new byte[random.nextInt(0, 2000)];
                random.nextBytes(wal);
                Lsn begin = end;
                recent.append(begin, ByteSlice.of(wal));
                model.writeBytes(wal);
                end = begin.plus(wal.length);
                byte[] all = model.toByteArray();

                long expectedStart = Math.min(Math.max(first.value(), end.value() - capacity), begin.value());
                assertEquals(new Lsn(expectedStart), recent.start());
                assertEquals(end, recent.end());
                assertSame(wal, recent.read(begin, wal.length).backingArray(), "a view of the appended array");
                if (wal.length > 1) {
                    ByteSlice tail = recent.read(begin.plus(1), wal.length - 1);
                    assertSame(wal, tail.backingArray(), "part of the last append: a view too");
                    assertEquals(1, tail.offset());
                }
                for (int r = 0; r < 5; r++) {
                    long from = random.nextLong(expectedStart, end.value() + 1);
                    int length = (int) random.nextLong(0, end.value() - from + 1);
                    int offset = (int) (from - first.value());
                    assertEquals(ByteSlice.of(all, offset, length),
                            recent.read(new Lsn(from), length), () -> "read at " + from);
                }
            }
        } catch (Throwable failure) {
            throw Seeds.failed(seed, failure);
        }
    }

    @Test
    void refusesWhatItDoesNotHold() {
        RecentWal recent = new RecentWal(100, 64);
        recent.restart(new Lsn(1000));
        recent.append(new Lsn(1000), ByteSlice.of(new byte[80]));
        recent.append(new Lsn(1080), ByteSlice.of(new byte[80]));
        assertEquals(new Lsn(1060), recent.start());
        assertThrows(IllegalArgumentException.class, () -> recent.read(new Lsn(1059), 10));
        assertThrows(IllegalArgumentException.class, () -> recent.read(new Lsn(1150), 11));
        assertThrows(IllegalArgumentException.class, () -> recent.append(new Lsn(1200), ByteSlice.of(new byte[1])));
    }
}
