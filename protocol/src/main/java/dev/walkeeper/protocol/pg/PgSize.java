package dev.walkeeper.protocol.pg;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Sizes as PostgreSQL writes them in its settings and {@code SHOW} answers: a number of bytes, or
 * with a unit of 1024 ({@code kB}, {@code MB}, {@code GB}, {@code TB}), e.g. "16MB", "65536kB".
 */
public final class PgSize {
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(B|kB|MB|GB|TB)?");
    private static final String[] UNITS = {"B", "kB", "MB", "GB", "TB"};

    private PgSize() {}

    /** The size in bytes; {@link IllegalArgumentException} when it is not a size or overflows a long. */
    public static long parse(String text) {
        Matcher m = SIZE.matcher(text.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + text + "' is not a size like 16MB");
        }
        int shift = switch (m.group(2) == null ? "B" : m.group(2)) {
            case "kB" -> 10;
            case "MB" -> 20;
            case "GB" -> 30;
            case "TB" -> 40;
            default -> 0;
        };
        long number;
        try {
            number = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is out of range", e);
        }
        if (number > (Long.MAX_VALUE >> shift)) {
            throw new IllegalArgumentException("'" + text + "' is out of range");
        }
        return number << shift;
    }

    /** As {@code SHOW} prints it: the largest unit that divides exactly (16MB, 1GB, 1000B). */
    public static String format(long bytes) {
        int unit = 0;
        while (unit < UNITS.length - 1 && bytes >= 1024 && bytes % 1024 == 0) {
            bytes /= 1024;
            unit++;
        }
        return bytes + UNITS[unit];
    }
}
