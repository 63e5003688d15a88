package dev.walkeeper.protocol.pg;

/**
 * The only exception a decoder throws on bad input: malformed, truncated, oversized or unexpected
 * bytes. It carries the SQLSTATE the server should report before closing the connection.
 */
public final class ProtocolException extends RuntimeException {
    private final SqlState sqlState;

    public ProtocolException(String message) {
        this(SqlState.PROTOCOL_VIOLATION, message);
    }

    public ProtocolException(SqlState sqlState, String message) {
        super(message);
        this.sqlState = sqlState;
    }

    public SqlState sqlState() {
        return sqlState;
    }
}
