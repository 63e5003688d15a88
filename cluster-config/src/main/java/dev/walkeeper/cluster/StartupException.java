package dev.walkeeper.cluster;

/**
 * A node cannot start for a reason its operator can fix. The message is the one line the operator
 * reads (what is wrong, the setting or path, what to do); the reason gives the process's exit code,
 * after sysexits.h, so that scripts and service managers can tell the cases apart.
 */
public final class StartupException extends RuntimeException {

    /** Why a node did not start, each with its own exit code. */
    public enum Reason {
        /** The config file does not exist or cannot be read (EX_NOINPUT). */
        CONFIG_FILE_UNREADABLE(66),
        /** The config file is not valid HOCON (EX_DATAERR). */
        CONFIG_SYNTAX(65),
        /** A setting has a wrong type or value (EX_CONFIG). */
        BAD_SETTING(78),
        /** A non-loopback listen address without {@code walkeeper.auth.users} (EX_NOPERM). */
        NO_USERS(77),
        /** The data directory cannot be created or written (EX_CANTCREAT). */
        DATA_DIR_UNUSABLE(73),
        /** Another node holds the data directory's lock (EX_TEMPFAIL: it may be free later). */
        DATA_DIR_IN_USE(75),
        /** The listen address cannot be bound, e.g. it is in use (EX_UNAVAILABLE). */
        CANNOT_LISTEN(69),
        /** The PostgreSQL journal's database cannot be reached or prepared (EX_IOERR). */
        JOURNAL_UNAVAILABLE(74);

        private final int exitCode;

        Reason(int exitCode) {
            this.exitCode = exitCode;
        }

        public int exitCode() {
            return exitCode;
        }
    }

    private final Reason reason;

    public StartupException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public StartupException(Reason reason, String message) {
        this(reason, message, null);
    }

    public Reason reason() {
        return reason;
    }
}
