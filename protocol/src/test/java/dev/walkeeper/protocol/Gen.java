package dev.walkeeper.protocol;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Hand-written generators over one seeded {@link SplittableRandom}. Numbers lean towards small
 * magnitudes and hit the edge values (0, ±1, minimum, maximum) and sizes hit 0 and the maximum
 * often, so that a thousand cases cover the boundaries as well as the bulk of the range.
 */
public final class Gen {
    /** Default maximum size of arrays, lists and strings, as jqwik's default. */
    public static final int DEFAULT_MAX_SIZE = 255;

    private static final long[] LONG_EDGES = {0, 1, -1, 2, Long.MIN_VALUE, Long.MAX_VALUE, Long.MIN_VALUE + 1,
            Long.MAX_VALUE - 1, Integer.MAX_VALUE, Integer.MIN_VALUE, 0xFFFF_FFFFL, 0x1_0000_0000L};
    private static final int[] INT_EDGES = {0, 1, -1, 2, Integer.MIN_VALUE, Integer.MAX_VALUE, Integer.MIN_VALUE + 1,
            Integer.MAX_VALUE - 1, 0xFFFF, 0x1_0000};

    private final SplittableRandom random;

    public Gen(long seed) {
        this.random = new SplittableRandom(seed);
    }

    public SplittableRandom random() {
        return random;
    }

    /** True one time in {@code n}. */
    public boolean oneIn(int n) {
        return random.nextInt(n) == 0;
    }

    public boolean bool() {
        return random.nextBoolean();
    }

    /** Any long: edge values, then a random value of random bit length, sign included. */
    public long anyLong() {
        if (oneIn(8)) {
            return LONG_EDGES[random.nextInt(LONG_EDGES.length)];
        }
        return random.nextLong() >> random.nextInt(64);
    }

    public int anyInt() {
        if (oneIn(8)) {
            return INT_EDGES[random.nextInt(INT_EDGES.length)];
        }
        return random.nextInt() >> random.nextInt(32);
    }

    public byte anyByte() {
        return (byte) anyInt();
    }

    /** A long in [min, max], both included, with the ends drawn often. */
    public long between(long min, long max) {
        if (min > max) {
            throw new IllegalArgumentException(min + " > " + max);
        }
        int pick = random.nextInt(10);
        if (pick == 0) {
            return min;
        }
        if (pick == 1) {
            return max;
        }
        long span = max - min + 1;
        if (span > 0) {
            // Small offsets from min half the time, anywhere in the range otherwise.
            long bound = pick < 6 ? Math.min(span, 1L << random.nextInt(1, 63)) : span;
            return min + random.nextLong(bound);
        }
        for (;;) { // The range exceeds a long: draw until inside.
            long v = random.nextLong();
            if (v >= min && v <= max) {
                return v;
            }
        }
    }

    public int between(int min, int max) {
        return (int) between((long) min, (long) max);
    }

    /** A size in [0, max]: 0 and max often, small sizes more than large ones. */
    public int size(int max) {
        return between(0, max);
    }

    /** One of the given values, equally likely. */
    @SafeVarargs
    public final <T> T of(T... values) {
        return values[random.nextInt(values.length)];
    }

    /** The value of one of the suppliers, equally likely. */
    @SafeVarargs
    public final <T> T oneOf(Supplier<? extends T>... choices) {
        return choices[random.nextInt(choices.length)].get();
    }

    public byte[] bytes() {
        return bytes(DEFAULT_MAX_SIZE);
    }

    /** Up to {@code maxSize} bytes; now and then all zeros or all one byte value. */
    public byte[] bytes(int maxSize) {
        byte[] bytes = new byte[size(maxSize)];
        int kind = random.nextInt(10);
        if (kind == 0) {
            return bytes;
        }
        if (kind == 1) {
            java.util.Arrays.fill(bytes, anyByte());
            return bytes;
        }
        random.nextBytes(bytes);
        return bytes;
    }

    public <T> List<T> list(int minSize, int maxSize, Supplier<T> element) {
        int n = between(minSize, maxSize);
        List<T> list = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            list.add(element.get());
        }
        return list;
    }

    /** A string of up to {@code maxLength} chars, each from {@code chars}. */
    public String string(int maxLength, String chars) {
        int n = size(maxLength);
        StringBuilder s = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            s.append(chars.charAt(random.nextInt(chars.length())));
        }
        return s.toString();
    }

    /** A string of exactly {@code length} chars from {@code chars}. */
    public String stringOfLength(int length, String chars) {
        StringBuilder s = new StringBuilder(length);
        for (int i = 0; i < length; i++) {
            s.append(chars.charAt(random.nextInt(chars.length())));
        }
        return s.toString();
    }

    /**
     * Up to {@code maxLength} chars of any kind: NUL, ASCII, the rest of the BMP, lone surrogates
     * and surrogate pairs.
     */
    public String anyString(int maxLength) {
        int n = size(maxLength);
        StringBuilder s = new StringBuilder(n);
        while (s.length() < n) {
            appendChar(s, true);
        }
        return s.substring(0, n);
    }

    /**
     * Up to {@code maxLength} chars that a cstring can carry: anything but NUL that survives
     * UTF-8, non-ASCII and supplementary characters included.
     */
    public String text(int maxLength) {
        int n = size(maxLength);
        StringBuilder s = new StringBuilder(n);
        while (s.length() < n) {
            appendChar(s, false);
        }
        if (s.length() > n) { // A surrogate pair at the end: drop it whole.
            s.setLength(n - 1);
        }
        return s.toString();
    }

    private void appendChar(StringBuilder s, boolean anything) {
        int kind = random.nextInt(10);
        if (kind < 5) {
            s.append((char) (anything ? random.nextInt(0, 128) : random.nextInt(1, 128)));
        } else if (kind < 8) {
            char c = (char) random.nextInt(0x80, 0x1_0000);
            if (Character.isSurrogate(c) && !anything) {
                c = 'é';
            }
            s.append(c);
        } else {
            s.appendCodePoint(random.nextInt(0x1_0000, Character.MAX_CODE_POINT + 1));
        }
    }
}
