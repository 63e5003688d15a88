package dev.walkeeper.protocol.auth;

import dev.walkeeper.protocol.pg.SqlState;
import java.util.Objects;

/**
 * The client proved nothing: wrong password, unknown user, or no usable verifier. Checked, so the
 * connection code must turn it into an ErrorResponse; the message is PostgreSQL's and is the same
 * for every cause, so a client cannot tell an unknown user from a wrong password.
 */
public final class AuthenticationFailedException extends Exception {
    private final String user;

    /** @param user the user name from the startup packet */
    public AuthenticationFailedException(String user) {
        super("password authentication failed for user \"" + Objects.requireNonNull(user, "user") + "\"");
        this.user = user;
    }

    /** The user name from the startup packet. */
    public String user() {
        return user;
    }

    /** 28P01, as PostgreSQL reports a failed password authentication. */
    public SqlState sqlState() {
        return SqlState.INVALID_PASSWORD;
    }
}
