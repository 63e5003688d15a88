package dev.walkeeper.testkit;

import com.sun.security.auth.module.UnixSystem;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The OS user that runs initdb and postgres, which both refuse to run as root.
 *
 * <p>When the JVM is not root (a developer machine) that is simply the JVM's user. When it is
 * root (CI containers) it is {@code postgres} if the Debian package created it, otherwise the
 * dedicated system user {@value #DEDICATED_USER}, created on first use. Commands are then run
 * through {@code runuser} and the server's directories are chowned to that user.
 */
public final class PgUser {

    static final String DEDICATED_USER = "walkeeper-pg";

    private static PgUser instance;

    private final String name;
    private final boolean switching;

    private PgUser(String name, boolean switching) {
        this.name = name;
        this.switching = switching;
    }

    public static synchronized PgUser get() {
        if (instance == null) {
            instance = new UnixSystem().getUid() == 0
                    ? new PgUser(nonRootUser(), true)
                    : new PgUser(System.getProperty("user.name"), false);
        }
        return instance;
    }

    public String name() {
        return name;
    }

    /** Whether commands run as another user than the JVM's (i.e. the JVM is root). */
    public boolean switching() {
        return switching;
    }

    /** A command that runs as this user. */
    public Command command(String... args) {
        Command command = Command.of(args);
        return switching ? command.runAs(name) : command;
    }

    /** Hands {@code path} and everything below it to this user, so the server can write there. */
    public void own(Path path) {
        if (switching) {
            Processes.run(Command.of("chown", "-R", name + ":", path.toString()))
                    .requireSuccess("chown of " + path + " to " + name);
        }
    }

    private static String nonRootUser() {
        if (exists("postgres")) {
            return "postgres";
        }
        // Test JVMs of several modules may race to create the user; whoever loses sees it exist.
        ProcessResult last = null;
        for (int attempt = 0; attempt < 5; attempt++) {
            if (exists(DEDICATED_USER)) {
                return DEDICATED_USER;
            }
            last = Processes.run(Command.of("useradd", "--system", "--no-create-home",
                    "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", DEDICATED_USER));
            if (last.succeeded()) {
                return DEDICATED_USER;
            }
            sleep(Duration.ofMillis(200));
        }
        if (exists(DEDICATED_USER)) {
            return DEDICATED_USER;
        }
        throw new IllegalStateException("Running as root, but cannot create the OS user " + DEDICATED_USER
                + " to run PostgreSQL as (initdb and postgres refuse root)"
                + Processes.describeOutput(last.stdout(), last.stderr()));
    }

    private static boolean exists(String user) {
        return Processes.run(Command.of("id", "-u", user)).succeeded();
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("Interrupted while creating " + DEDICATED_USER, e);
        }
    }
}
