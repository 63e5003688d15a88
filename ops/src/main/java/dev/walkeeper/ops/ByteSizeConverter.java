package dev.walkeeper.ops;

import dev.walkeeper.protocol.pg.PgSize;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/** A positive size as PostgreSQL writes one in its settings ({@link PgSize}): 64MB, 512kB, 1GB. */
final class ByteSizeConverter implements ITypeConverter<Long> {
    @Override
    public Long convert(String value) {
        long bytes;
        try {
            bytes = PgSize.parse(value);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException(e.getMessage());
        }
        if (bytes == 0) {
            throw new TypeConversionException("'" + value + "' is out of range");
        }
        return bytes;
    }
}
