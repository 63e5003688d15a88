package dev.walkeeper.protocol;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;

/**
 * A read-only view of {@code length} bytes of an array from {@code offset}: how WAL payloads
 * travel from the frame they arrived in to the file write without being copied. Making a slice
 * copies nothing, so whoever makes one hands the range over: nobody writes to it afterwards (a
 * received frame's body is never reused, an encoded payload is never modified).
 *
 * <p>Equality is by content, as for the {@code byte[]} it replaces in message records (whose tests
 * compare decoded messages with the ones encoded): two slices of equal bytes are equal wherever
 * they lie. {@link #hashCode} is computed over the bytes each time — slices are not meant as keys.
 */
public final class ByteSlice {
    public static final ByteSlice EMPTY = new ByteSlice(new byte[0], 0, 0);

    private final byte[] array;
    private final int offset;
    private final int length;

    private ByteSlice(byte[] array, int offset, int length) {
        this.array = array;
        this.offset = offset;
        this.length = length;
    }

    /** The whole array, not copied: the caller hands it over. */
    public static ByteSlice of(byte[] array) {
        return new ByteSlice(array, 0, array.length);
    }

    /**
     * {@code length} bytes of {@code array} from {@code offset}, not copied.
     *
     * @throws IndexOutOfBoundsException if the range does not lie within the array
     */
    public static ByteSlice of(byte[] array, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, array.length);
        return new ByteSlice(array, offset, length);
    }

    /** A slice of a copy of {@code bytes}, for callers that keep using their array. */
    public static ByteSlice copyOf(byte[] bytes) {
        return new ByteSlice(bytes.clone(), 0, bytes.length);
    }

    public int length() {
        return length;
    }

    public boolean isEmpty() {
        return length == 0;
    }

    /** @throws IndexOutOfBoundsException unless {@code 0 <= i < length()} */
    public byte get(int i) {
        return array[offset + Objects.checkIndex(i, length)];
    }

    /**
     * The bytes {@code [from, from + n)} of this slice, not copied.
     *
     * @throws IndexOutOfBoundsException if the range does not lie within this slice
     */
    public ByteSlice slice(int from, int n) {
        Objects.checkFromIndexSize(from, n, length);
        return new ByteSlice(array, offset + from, n);
    }

    /** Copies the bytes to {@code dest} from {@code destOffset}. */
    public void copyTo(byte[] dest, int destOffset) {
        System.arraycopy(array, offset, dest, destOffset, length);
    }

    /** Copies the bytes into {@code dest} at its position, which advances by {@link #length()}. */
    public void copyTo(ByteBuffer dest) {
        dest.put(array, offset, length);
    }

    /** A new array with the bytes, for the few callers that need one of exactly this size. */
    public byte[] toArray() {
        return Arrays.copyOfRange(array, offset, offset + length);
    }

    /** A read-only buffer over the bytes (position 0, limit {@link #length()}), not copied. */
    public ByteBuffer asByteBuffer() {
        return ByteBuffer.wrap(array, offset, length).slice().asReadOnlyBuffer();
    }

    /**
     * The array the bytes lie in, from {@link #offset()}: for consumers that take an array range
     * (a decoder, {@code ByteBuffer.wrap}) without a copy. Shared, so never to be written to.
     */
    public byte[] backingArray() {
        return array;
    }

    /** Where the bytes start in {@link #backingArray()}. */
    public int offset() {
        return offset;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ByteSlice s
                && Arrays.equals(s.array, s.offset, s.offset + s.length, array, offset, offset + length);
    }

    @Override
    public int hashCode() {
        int h = 1;
        for (int i = offset; i < offset + length; i++) {
            h = 31 * h + array[i];
        }
        return h;
    }

    /** By length only: a slice can be 128 KiB of binary. */
    @Override
    public String toString() {
        return "ByteSlice[" + length + " bytes]";
    }
}
