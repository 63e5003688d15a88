package dev.walkeeper.ops;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** A size as PostgreSQL writes one in its settings: a number of bytes, or with kB, MB, GB (units of 1024). */
final class ByteSizeConverter implements ITypeConverter<Long> {
    private static final Pattern SIZE = Pattern.compile("(\\d+)\\s*(B|kB|MB|GB)?");

    @Override
    public Long convert(String value) {
        Matcher m = SIZE.matcher(value.trim());
        if (!m.matches()) {
            throw new TypeConversionException("'" + value + "' is not a size like 64MB");
        }
        int shift = switch (m.group(2) == null ? "B" : m.group(2)) {
            case "kB" -> 10;
            case "MB" -> 20;
            case "GB" -> 30;
            default -> 0;
        };
        long number = Long.parseLong(m.group(1));
        if (number > (Long.MAX_VALUE >> shift) || number == 0) {
            throw new TypeConversionException("'" + value + "' is out of range");
        }
        return number << shift;
    }
}
