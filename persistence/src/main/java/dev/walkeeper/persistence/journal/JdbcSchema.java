package dev.walkeeper.persistence.journal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Creates the PostgreSQL tables of the JDBC alternative to {@link FileJournal}
 * (pekko-persistence-jdbc), from the DDL shipped in that plugin's jar so the schema always matches
 * the plugin version in use.
 *
 * <p>Meant to run at every start, so it is idempotent: the shipped script creates its indexes
 * unconditionally and would fail the second time, so every statement is rewritten to
 * {@code IF NOT EXISTS}. That also completes a schema left half-created by an interrupted run. A
 * statement that cannot be made idempotent this way (a future version of the script) is refused
 * before anything runs, and every database error is raised with the statement that caused it.
 */
public final class JdbcSchema {

    /** The DDL inside the pekko-persistence-jdbc jar. */
    public static final String POSTGRES_DDL = "schema/postgres/postgres-create-schema.sql";

    private static final Pattern CREATE_TABLE =
            Pattern.compile("(?is)^(CREATE\\s+TABLE\\s+)(IF\\s+NOT\\s+EXISTS\\s+)?");
    private static final Pattern CREATE_INDEX =
            Pattern.compile("(?is)^(CREATE\\s+(?:UNIQUE\\s+)?INDEX\\s+(?:CONCURRENTLY\\s+)?)(IF\\s+NOT\\s+EXISTS\\s+)?");

    private JdbcSchema() {
    }

    /** Connects to {@code url} and applies the schema. */
    public static void apply(String url, String user, String password) throws SQLException {
        try (Connection connection = DriverManager.getConnection(url, user, password)) {
            apply(connection);
        }
    }

    /**
     * Applies the schema statement by statement in auto-commit mode, because
     * {@code CREATE INDEX CONCURRENTLY} refuses to run inside a transaction.
     *
     * @throws SQLException naming the failed statement
     */
    public static void apply(Connection connection) throws SQLException {
        List<String> statements = statements();
        connection.setAutoCommit(true);
        for (String statement : statements) {
            try (Statement sql = connection.createStatement()) {
                sql.execute(statement);
            } catch (SQLException e) {
                throw new SQLException("Creating the pekko-persistence-jdbc schema failed at: " + statement
                        + " (" + e.getMessage() + ")", e.getSQLState(), e);
            }
        }
    }

    /** The statements of {@link #POSTGRES_DDL}, each made idempotent. */
    static List<String> statements() {
        List<String> statements = new ArrayList<>();
        for (String statement : stripComments(readDdl()).split(";")) {
            if (!statement.isBlank()) {
                statements.add(idempotent(statement.strip()));
            }
        }
        return statements;
    }

    /** {@code statement} with {@code IF NOT EXISTS} added where it lacks it. */
    static String idempotent(String statement) {
        for (Pattern pattern : List.of(CREATE_TABLE, CREATE_INDEX)) {
            Matcher create = pattern.matcher(statement);
            if (create.lookingAt()) {
                return create.group(2) != null ? statement
                        : create.group(1) + "IF NOT EXISTS " + statement.substring(create.end(1));
            }
        }
        throw new IllegalStateException("Cannot make this statement of " + POSTGRES_DDL
                + " idempotent: " + statement);
    }

    private static String stripComments(String sql) {
        StringBuilder kept = new StringBuilder();
        for (String line : sql.split("\n")) {
            if (!line.strip().startsWith("--")) {
                kept.append(line).append('\n');
            }
        }
        return kept.toString();
    }

    private static String readDdl() {
        try (InputStream in = JdbcSchema.class.getClassLoader().getResourceAsStream(POSTGRES_DDL)) {
            if (in == null) {
                throw new IllegalStateException(POSTGRES_DDL + " not on the class path: is pekko-persistence-jdbc missing?");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read " + POSTGRES_DDL, e);
        }
    }
}
