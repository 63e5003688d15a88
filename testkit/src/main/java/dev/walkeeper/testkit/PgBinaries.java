package dev.walkeeper.testkit;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Locates the PostgreSQL 15 binaries that tests run against. A missing installation fails loudly
 * instead of skipping tests: a silently skipped test looks exactly like a passing one.
 */
public final class PgBinaries {

    public static final String DIR_PROPERTY = "walkeeper.pg.bin";
    public static final String DIR_ENV = "WALKEEPER_PG_BIN";
    public static final Path DEFAULT_DIR = Path.of("/usr/lib/postgresql/15/bin");

    /** The tools the test suites use; all must be present so failures surface before any test runs. */
    static final List<String> REQUIRED_TOOLS = List.of("postgres", "initdb", "pg_ctl", "psql",
            "pg_receivewal", "pg_waldump", "pg_basebackup", "pgbench");

    private final Path dir;

    private PgBinaries(Path dir) {
        this.dir = dir;
    }

    /**
     * The binaries from system property {@value #DIR_PROPERTY}, else environment variable
     * {@value #DIR_ENV}, else {@code /usr/lib/postgresql/15/bin}.
     *
     * @throws IllegalStateException if they are missing or not version 15
     */
    public static PgBinaries require() {
        String configured = System.getProperty(DIR_PROPERTY);
        if (configured == null || configured.isBlank()) {
            configured = System.getenv(DIR_ENV);
        }
        return at(configured == null || configured.isBlank() ? DEFAULT_DIR : Path.of(configured));
    }

    /**
     * The binaries in {@code dir}.
     *
     * @throws IllegalStateException if they are missing or not version 15
     */
    public static PgBinaries at(Path dir) {
        List<String> missing = REQUIRED_TOOLS.stream()
                .filter(tool -> !Files.isExecutable(dir.resolve(tool)))
                .toList();
        if (!missing.isEmpty()) {
            throw notFound(dir, "missing " + String.join(", ", missing));
        }
        ProcessResult version = Processes.run(Command.of(dir.resolve("postgres").toString(), "--version")
                .timeout(Duration.ofSeconds(30)));
        if (!version.succeeded() || !version.stdout().contains("(PostgreSQL) 15.")) {
            throw notFound(dir, "postgres --version says: " + (version.stdout() + version.stderr()).trim());
        }
        return new PgBinaries(dir);
    }

    public Path dir() {
        return dir;
    }

    /** The path of {@code tool}, e.g. {@code bin("pg_receivewal")}. */
    public Path bin(String tool) {
        Path path = dir.resolve(tool);
        if (!Files.isExecutable(path)) {
            throw new IllegalStateException("No executable " + tool + " in " + dir);
        }
        return path;
    }

    private static IllegalStateException notFound(Path dir, String detail) {
        return new IllegalStateException("PostgreSQL 15 binaries not found at " + dir + " (" + detail
                + "); run scripts/install-postgres.sh (as root: apt-get install -y postgresql-15),"
                + " or point -D" + DIR_PROPERTY + " / " + DIR_ENV + " at a PostgreSQL 15 bin directory");
    }
}
