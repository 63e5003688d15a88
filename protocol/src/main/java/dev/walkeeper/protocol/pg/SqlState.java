package dev.walkeeper.protocol.pg;

/** The SQLSTATE codes walkeeper sends, named as in PostgreSQL's errcodes.txt. */
public enum SqlState {
    SUCCESSFUL_COMPLETION("00000"),
    FEATURE_NOT_SUPPORTED("0A000"),
    UNABLE_TO_CONNECT("08001"),
    CONNECTION_FAILURE("08006"),
    PROTOCOL_VIOLATION("08P01"),
    INVALID_PARAMETER_VALUE("22023"),
    INVALID_AUTHORIZATION_SPECIFICATION("28000"),
    INVALID_PASSWORD("28P01"),
    INSUFFICIENT_PRIVILEGE("42501"),
    SYNTAX_ERROR("42601"),
    UNDEFINED_OBJECT("42704"),
    DUPLICATE_OBJECT("42710"),
    TOO_MANY_CONNECTIONS("53300"),
    PROGRAM_LIMIT_EXCEEDED("54000"),
    OBJECT_NOT_IN_PREREQUISITE_STATE("55000"),
    OBJECT_IN_USE("55006"),
    QUERY_CANCELED("57014"),
    ADMIN_SHUTDOWN("57P01"),
    IDLE_SESSION_TIMEOUT("57P05"),
    UNDEFINED_FILE("58P01"),
    INTERNAL_ERROR("XX000");

    private final String code;

    SqlState(String code) {
        this.code = code;
    }

    public String code() {
        return code;
    }
}
