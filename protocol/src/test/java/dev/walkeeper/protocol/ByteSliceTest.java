package dev.walkeeper.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ReadOnlyBufferException;
import org.junit.jupiter.api.Test;

class ByteSliceTest {
    private static final byte[] BYTES = {10, 11, 12, 13, 14, 15, 16};

    @Test
    void aSliceIsAViewOfItsRange() {
        ByteSlice slice = ByteSlice.of(BYTES, 2, 3);
        assertEquals(3, slice.length());
        assertEquals(12, slice.get(0));
        assertEquals(14, slice.get(2));
        assertSame(BYTES, slice.backingArray());
        assertEquals(2, slice.offset());
        assertArrayEquals(new byte[] {12, 13, 14}, slice.toArray());
        assertNotSame(slice.toArray(), slice.toArray());
        ByteSlice inner = slice.slice(1, 2);
        assertArrayEquals(new byte[] {13, 14}, inner.toArray());
        assertEquals(3, inner.offset());
    }

    @Test
    void boundsAreChecked() {
        assertThrows(IndexOutOfBoundsException.class, () -> ByteSlice.of(BYTES, -1, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> ByteSlice.of(BYTES, 5, 3));
        assertThrows(IndexOutOfBoundsException.class, () -> ByteSlice.of(BYTES, 0, -1));
        ByteSlice slice = ByteSlice.of(BYTES, 2, 3);
        assertThrows(IndexOutOfBoundsException.class, () -> slice.get(3));
        assertThrows(IndexOutOfBoundsException.class, () -> slice.get(-1));
        assertThrows(IndexOutOfBoundsException.class, () -> slice.slice(2, 2));
        assertThrows(IndexOutOfBoundsException.class, () -> slice.slice(-1, 1));
        assertEquals(0, ByteSlice.of(BYTES, 7, 0).length());
        assertTrue(slice.slice(3, 0).isEmpty());
    }

    @Test
    void copiesTakeExactlyTheRange() {
        ByteSlice slice = ByteSlice.of(BYTES, 1, 3);
        byte[] into = new byte[5];
        slice.copyTo(into, 1);
        assertArrayEquals(new byte[] {0, 11, 12, 13, 0}, into);
        ByteBuffer buffer = ByteBuffer.allocate(4).put((byte) 1);
        slice.copyTo(buffer);
        assertEquals(4, buffer.position());
        assertArrayEquals(new byte[] {1, 11, 12, 13}, buffer.array());
        ByteSlice copied = ByteSlice.copyOf(BYTES);
        assertNotSame(BYTES, copied.backingArray());
        assertEquals(ByteSlice.of(BYTES), copied);
    }

    @Test
    void asByteBufferIsAReadOnlyWindowOnTheRange() {
        ByteBuffer buffer = ByteSlice.of(BYTES, 4, 2).asByteBuffer();
        assertEquals(0, buffer.position());
        assertEquals(2, buffer.remaining());
        assertEquals(14, buffer.get(0));
        assertEquals(15, buffer.get(1));
        assertTrue(buffer.isReadOnly());
        assertThrows(ReadOnlyBufferException.class, () -> buffer.put(0, (byte) 1));
    }

    @Test
    void equalityIsByContentWhereverTheBytesLie() {
        byte[] other = {0, 0, 12, 13, 14};
        assertEquals(ByteSlice.of(BYTES, 2, 3), ByteSlice.of(other, 2, 3));
        assertEquals(ByteSlice.of(BYTES, 2, 3).hashCode(), ByteSlice.of(other, 2, 3).hashCode());
        assertNotEquals(ByteSlice.of(BYTES, 2, 3), ByteSlice.of(BYTES, 2, 2));
        assertNotEquals(ByteSlice.of(BYTES, 2, 3), ByteSlice.of(BYTES, 3, 3));
        assertEquals(ByteSlice.EMPTY, ByteSlice.of(BYTES, 3, 0));
        assertEquals("ByteSlice[3 bytes]", ByteSlice.of(BYTES, 2, 3).toString());
    }
}
