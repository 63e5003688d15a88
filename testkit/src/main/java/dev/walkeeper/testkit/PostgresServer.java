package dev.walkeeper.testkit;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * A real, throw-away PostgreSQL 15 instance for one test: walkeeper must interoperate with the
 * genuine server, so nothing here is mocked.
 *
 * <p>Each instance lives in its own temporary directory (data directory, unix socket, server log),
 * listens on 127.0.0.1 only and, when the JVM is root, runs as {@link PgUser}. Clients connect over
 * TCP; the unix socket is only the harness's own trusted path for setting passwords.
 *
 * <pre>{@code
 * try (PostgresServer pg = PostgresServer.builder().synchronousStandbyNames("walkeeper").build().start()) {
 *     pg.psql("select 1");
 * }
 * }</pre>
 *
 * <p>Instead of running initdb, a server can start from a copy of an existing data directory, such
 * as a base backup made with {@code pg_basebackup} for a standby: see {@link Builder#fromDataDirectory}.
 */
public final class PostgresServer implements AutoCloseable {

    private static final String SUPERUSER = "postgres";
    private static final Duration SLOW_COMMAND = Duration.ofSeconds(120);
    /** A freely chosen port can be grabbed by someone else before postgres binds it; try others. */
    private static final int START_ATTEMPTS = 3;

    private final PgBinaries binaries = PgBinaries.require();
    private final PgUser user = PgUser.get();
    private final boolean fixedPort;
    private final String walLevel;
    private final int maxWalSenders;
    private final String synchronousStandbyNames;
    private final List<String> extraConfig;
    private final String scramUser;
    private final String scramPassword;
    private final String superuserPassword;
    /** The data directory to copy instead of running initdb, or null. */
    private final Path sourceDataDir;
    private int port;
    private Path baseDir;
    private boolean running;
    private boolean closed;

    private PostgresServer(Builder options) {
        this.fixedPort = options.port != 0;
        this.port = fixedPort ? options.port : FreePort.find();
        this.walLevel = options.walLevel;
        this.maxWalSenders = options.maxWalSenders;
        this.synchronousStandbyNames = options.synchronousStandbyNames;
        this.extraConfig = List.copyOf(options.extraConfig);
        this.scramUser = options.scramUser;
        this.scramPassword = options.scramPassword;
        this.superuserPassword = scramUser == null ? null
                : SUPERUSER.equals(scramUser) ? scramPassword : UUID.randomUUID().toString();
        this.sourceDataDir = options.sourceDataDir;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Creates the cluster on first call (initdb, or a copy of {@link Builder#fromDataDirectory}'s
     * directory; configuration, roles) and starts the server; after {@link #stop()} it starts the
     * same cluster again, as after a crash.
     *
     * @throws IllegalStateException with the server log if the server does not come up
     */
    public synchronized PostgresServer start() {
        if (closed) {
            throw new IllegalStateException("Closed: " + this);
        }
        if (running) {
            throw new IllegalStateException("Already running: " + this);
        }
        boolean fresh = baseDir == null;
        try {
            if (fresh) {
                initCluster();
            }
            startServer();
            if (fresh && scramUser != null) {
                createPasswords();
            }
        } catch (RuntimeException e) {
            // Callers write try (var pg = builder().build().start()), so nobody else can clean up.
            if (fresh) {
                try {
                    close();
                } catch (RuntimeException | AssertionError cleanup) {
                    e.addSuppressed(cleanup);
                }
            }
            throw e;
        }
        return this;
    }

    /**
     * Stops the server at once ({@code pg_ctl -m immediate}, i.e. crash-like) but keeps its data.
     * A server that is already gone (e.g. killed by the test) is fine.
     */
    public synchronized void stop() {
        if (!running) {
            return;
        }
        running = false;
        ProcessResult stopped = pgCtl("-m", "immediate", "-w", "-t", "60", "stop");
        // pg_ctl status exits with 3 when no server is running.
        if (!stopped.succeeded() && pgCtl("status").exitCode() != 3) {
            stopped.requireSuccess("pg_ctl stop of " + dataDir());
        }
    }

    /** Stops the server and deletes its directory. */
    @Override
    public synchronized void close() {
        closed = true;
        try {
            stop();
        } finally {
            if (baseDir != null) {
                deleteRecursively(baseDir);
            }
        }
    }

    public int port() {
        return port;
    }

    /** The data directory, owned by {@link PgUser}. */
    public Path dataDir() {
        return requireBaseDir().resolve("data");
    }

    public Path logFile() {
        return requireBaseDir().resolve("postgres.log");
    }

    /** The server log so far, for assertion messages. */
    public String serverLog() {
        return serverLog(0);
    }

    public PgBinaries binaries() {
        return binaries;
    }

    /** The password of superuser {@code postgres} when scram-sha-256 is configured; empty with trust. */
    public Optional<String> superuserPassword() {
        return Optional.ofNullable(superuserPassword);
    }

    /** libpq connection string for the superuser, e.g. for pg_receivewal {@code -d}. */
    public String conninfo(String dbname) {
        return conninfo(dbname, SUPERUSER);
    }

    /** libpq connection string over TCP; passwords go in {@code PGPASSWORD}, never here. */
    public String conninfo(String dbname, String dbUser) {
        return "host=127.0.0.1 port=" + port + " dbname=" + quoteConninfo(dbname) + " user=" + quoteConninfo(dbUser);
    }

    /**
     * Runs SQL as superuser over TCP and returns the unaligned, tuples-only output, trimmed.
     *
     * @throws AssertionError with psql's stderr if any statement fails
     */
    public String psql(String sql) {
        return psqlResult(sql).requireSuccess("psql on port " + port + ": " + sql).stdout().trim();
    }

    /** Like {@link #psql(String)} but returns the raw result, for statements expected to fail. */
    public ProcessResult psqlResult(String sql) {
        return psqlResult(conninfo(SUPERUSER), superuserPassword, sql);
    }

    /**
     * Runs SQL with {@code psql -X -q -A -t -v ON_ERROR_STOP=1} on {@code conninfo}, passing
     * {@code password} (if not null) via {@code PGPASSWORD}. Statements are fed through stdin so
     * that each runs on its own, outside a transaction block (ALTER SYSTEM needs that).
     */
    public ProcessResult psqlResult(String conninfo, String password, String sql) {
        Command command = Command.of(binaries.bin("psql").toString(), "-X", "-q", "-A", "-t",
                "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", "-").stdin(sql);
        return Processes.run(password == null ? command : command.env("PGPASSWORD", password));
    }

    @Override
    public String toString() {
        return "PostgresServer[port=" + port + ", dir=" + baseDir + ", running=" + running + "]";
    }

    private void startServer() {
        for (int attempt = 1; ; attempt++) {
            long logSizeBefore = logSize();
            ProcessResult started = pgCtl("-l", logFile().toString(), "-w", "-t", "60", "start");
            if (started.succeeded()) {
                running = true;
                return;
            }
            boolean portTaken = serverLog(logSizeBefore).contains("could not bind");
            if (portTaken && !fixedPort && attempt < START_ATTEMPTS) {
                port = FreePort.find();
                appendConfig(List.of("port = " + port));
                continue;
            }
            throw new IllegalStateException("PostgreSQL did not start on port " + port + " in " + dataDir()
                    + Processes.describeOutput(started.stdout(), started.stderr())
                    + "\n--- server log ---\n" + Processes.tail(serverLog()));
        }
    }

    private ProcessResult pgCtl(String... args) {
        List<String> argv = new ArrayList<>(List.of(binaries.bin("pg_ctl").toString(), "-D", dataDir().toString()));
        argv.addAll(List.of(args));
        return Processes.run(user.command(argv.toArray(String[]::new)).timeout(SLOW_COMMAND));
    }

    private void initCluster() {
        try {
            baseDir = Files.createTempDirectory("walkeeper-pg-");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (sourceDataDir != null) {
            copyDataDirectory(sourceDataDir, dataDir());
            user.own(baseDir);
        } else {
            user.own(baseDir);
            Processes.run(user.command(binaries.bin("initdb").toString(), "-D", dataDir().toString(),
                    "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
                    .timeout(SLOW_COMMAND)).requireSuccess("initdb in " + dataDir());
        }
        // Appended after the copied configuration (e.g. the primary's), these lines win.
        List<String> config = new ArrayList<>(List.of(
                "",
                "# walkeeper testkit",
                "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = " + quoteConfig(baseDir.toString()),
                "wal_level = " + walLevel,
                "max_wal_senders = " + maxWalSenders,
                "max_replication_slots = " + maxWalSenders));
        if (synchronousStandbyNames != null) {
            config.add("synchronous_standby_names = " + quoteConfig(synchronousStandbyNames));
        }
        config.addAll(extraConfig);
        config.add("port = " + port);
        appendConfig(config);
        String method = scramUser == null ? "trust" : "scram-sha-256";
        overwrite(dataDir().resolve("pg_hba.conf"), String.join("\n",
                "# The unix socket sits in a private 0700 directory: the harness's trusted admin path.",
                "local all all trust",
                "host all all 127.0.0.1/32 " + method,
                "host replication all 127.0.0.1/32 " + method,
                ""));
    }

    /**
     * Copies {@code source} to {@code target} as pg_basebackup would take it: file modes kept
     * (PostgreSQL insists on a 0700/0750 data directory), symbolic links copied as links, and
     * without the lock file and options file of a server that ran there.
     */
    private static void copyDataDirectory(Path source, Path target) {
        if (!Files.isDirectory(source) || !Files.exists(source.resolve("PG_VERSION"))) {
            throw new IllegalStateException("Not a PostgreSQL data directory: " + source);
        }
        try (Stream<Path> paths = Files.walk(source)) {
            for (Path from : paths.toList()) {
                Path relative = source.relativize(from);
                if (relative.toString().equals("postmaster.pid") || relative.toString().equals("postmaster.opts")) {
                    continue;
                }
                Files.copy(from, target.resolve(relative.toString()), StandardCopyOption.COPY_ATTRIBUTES,
                        LinkOption.NOFOLLOW_LINKS);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot copy the data directory " + source + " to " + target, e);
        }
    }

    /** Sets the passwords over the trusted unix socket; TCP already demands them. */
    private void createPasswords() {
        StringBuilder sql = new StringBuilder("SET password_encryption = 'scram-sha-256';\n")
                .append("ALTER ROLE ").append(SUPERUSER).append(" PASSWORD ")
                .append(quoteLiteral(superuserPassword)).append(";\n");
        if (!SUPERUSER.equals(scramUser)) {
            sql.append("CREATE ROLE ").append(quoteIdentifier(scramUser))
                    .append(" LOGIN REPLICATION PASSWORD ").append(quoteLiteral(scramPassword))
                    .append(";\n");
        }
        Processes.run(Command.of(binaries.bin("psql").toString(), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                "-h", baseDir.toString(), "-p", Integer.toString(port), "-U", SUPERUSER, "-d", SUPERUSER,
                "-f", "-").stdin(sql.toString())).requireSuccess("setting passwords on port " + port);
    }

    private void appendConfig(List<String> lines) {
        try {
            // Appending as root keeps the file's owner; later lines override initdb's defaults.
            Files.writeString(dataDir().resolve("postgresql.conf"), String.join("\n", lines) + "\n",
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void overwrite(Path file, String content) {
        try {
            Files.writeString(file, content, StandardOpenOption.TRUNCATE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private String serverLog(long fromByte) {
        Path log = logFile();
        if (!Files.exists(log)) {
            return "";
        }
        try (var channel = Files.newByteChannel(log)) {
            byte[] bytes = Channels.newInputStream(channel.position(fromByte)).readAllBytes();
            return new String(bytes, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private long logSize() {
        try {
            return Files.exists(logFile()) ? Files.size(logFile()) : 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Path requireBaseDir() {
        if (baseDir == null) {
            throw new IllegalStateException("Not started yet");
        }
        return baseDir;
    }

    private static void deleteRecursively(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot delete " + dir, e);
        }
    }

    private static String quoteConfig(String value) {
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'";
    }

    private static String quoteLiteral(String value) {
        return "'" + value.replace("'", "''") + "'";
    }

    private static String quoteIdentifier(String name) {
        return "\"" + name.replace("\"", "\"\"") + "\"";
    }

    private static String quoteConninfo(String value) {
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }

    /** Options of a {@link PostgresServer}; defaults suit a primary that streams WAL to walkeeper. */
    public static final class Builder {
        private int port;
        private String walLevel = "replica";
        private int maxWalSenders = 10;
        private String synchronousStandbyNames;
        private final List<String> extraConfig = new ArrayList<>();
        private String scramUser;
        private String scramPassword;
        private Path sourceDataDir;

        private Builder() {
        }

        /** A fixed port; by default a free one is chosen. */
        public Builder port(int port) {
            if (port <= 0 || port > 65535) {
                throw new IllegalArgumentException("port " + port);
            }
            this.port = port;
            return this;
        }

        public Builder walLevel(String walLevel) {
            this.walLevel = Objects.requireNonNull(walLevel);
            return this;
        }

        /** Also used for {@code max_replication_slots}. */
        public Builder maxWalSenders(int maxWalSenders) {
            this.maxWalSenders = maxWalSenders;
            return this;
        }

        /** E.g. {@code "ANY 1 (walkeeper)"}, making commits wait for walkeeper's acknowledgement. */
        public Builder synchronousStandbyNames(String names) {
            this.synchronousStandbyNames = Objects.requireNonNull(names);
            return this;
        }

        /** A raw {@code postgresql.conf} line such as {@code "wal_sender_timeout = 5s"}. */
        public Builder config(String line) {
            extraConfig.add(Objects.requireNonNull(line));
            return this;
        }

        /**
         * Requires scram-sha-256 passwords for all TCP connections (normal and replication) instead
         * of trust, and creates {@code user} (LOGIN REPLICATION) with {@code password}. The
         * superuser gets a password too, see {@link PostgresServer#superuserPassword()}.
         */
        public Builder scramAuth(String user, String password) {
            this.scramUser = Objects.requireNonNull(user);
            this.scramPassword = Objects.requireNonNull(password);
            return this;
        }

        /**
         * Starts from a copy of the data directory {@code source} instead of running initdb — e.g.
         * a base backup made with {@code pg_basebackup}: to run a standby, put {@code standby.signal}
         * in {@code source} and set {@code primary_conninfo} with {@link #config}. The copy lives in
         * the server's own temporary directory, owned by {@link PgUser}, and is deleted by
         * {@link PostgresServer#close()}; {@code source} may lie anywhere the JVM can read (even a
         * directory {@link PgUser} cannot enter) and is left untouched, so it may be used again.
         *
         * <p>The harness's lines are appended to the copied {@code postgresql.conf} (listen address,
         * unix socket directory, port, WAL settings, then the {@link #config} lines), overriding what
         * it held, and {@code pg_hba.conf} is replaced as for a new cluster: trust for loopback TCP,
         * normal and replication connections. Not combinable with {@link #scramAuth}, which creates
         * roles (a standby is read-only).
         */
        public Builder fromDataDirectory(Path source) {
            this.sourceDataDir = Objects.requireNonNull(source).toAbsolutePath();
            return this;
        }

        /** The server, not started yet: call {@link PostgresServer#start()}. */
        public PostgresServer build() {
            if (sourceDataDir != null && scramUser != null) {
                throw new IllegalStateException("scramAuth cannot be combined with fromDataDirectory: it creates"
                        + " roles, which a copied standby cannot take");
            }
            return new PostgresServer(this);
        }
    }
}
