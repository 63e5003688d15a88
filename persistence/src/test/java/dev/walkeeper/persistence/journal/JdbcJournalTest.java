package dev.walkeeper.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.walkeeper.testkit.PostgresServer;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The behaviour suite on the JDBC alternative: pekko-persistence-jdbc on a real PostgreSQL 15,
 * with the schema from {@link JdbcSchema} applied twice to show it is idempotent.
 */
class JdbcJournalTest extends JournalBehaviourSuite {

    private static final String DATABASE = "walkeeper_journal";
    private static final String USER = "postgres";

    private static PostgresServer postgres;
    private static String url;

    @BeforeAll
    static void startPostgres() throws SQLException {
        postgres = PostgresServer.builder().build().start();
        postgres.psql("CREATE DATABASE " + DATABASE);
        url = "jdbc:postgresql://127.0.0.1:" + postgres.port() + "/" + DATABASE;
        JdbcSchema.apply(url, USER, "");
        JdbcSchema.apply(url, USER, "");
    }

    @AfterAll
    static void stopPostgres() {
        if (postgres != null) {
            postgres.close();
        }
    }

    @Override
    protected Config pluginConfig() {
        return ConfigFactory.parseMap(Map.of(
                "pekko.persistence.journal.plugin", "walkeeper.persistence.jdbc-journal",
                "pekko.persistence.snapshot-store.plugin", "walkeeper.persistence.jdbc-snapshot-store",
                "walkeeper.persistence.jdbc.url", url,
                "walkeeper.persistence.jdbc.user", USER,
                "walkeeper.persistence.jdbc.password", ""));
    }

    @Test
    void theSchemaIsCompleteAfterBeingAppliedTwice() throws SQLException {
        try (Connection connection = DriverManager.getConnection(url, USER, "")) {
            assertEquals(List.of("durable_state", "event_journal", "event_tag", "snapshot"), names(connection,
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"));
            assertEquals(List.of("event_journal_ordering_idx", "state_global_offset_idx", "state_tag_idx"), names(connection,
                    "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%pkey'"
                            + " ORDER BY 1"));
        }
    }

    @Test
    void eventsAndSnapshotsAreRowsInPostgres() throws SQLException {
        LedgerProbe ledger = system.ledger(persistenceId, new Ledger.Options(RetentionCriteria.snapshotEvery(2, 1), false));
        ledger.awaitRecovered();
        ledger.append(List.of("a", "b"));
        ledger.awaitReport(new Ledger.SnapshotSaved(2));
        try (Connection connection = DriverManager.getConnection(url, USER, "")) {
            assertEquals(List.of("1", "2"), names(connection, "SELECT sequence_number FROM event_journal"
                    + " WHERE persistence_id = '" + persistenceId + "' ORDER BY 1"));
            assertEquals(List.of("2"), names(connection, "SELECT sequence_number FROM snapshot"
                    + " WHERE persistence_id = '" + persistenceId + "'"));
        }
    }

    private static List<String> names(Connection connection, String query) throws SQLException {
        List<String> names = new ArrayList<>();
        try (ResultSet rows = connection.createStatement().executeQuery(query)) {
            while (rows.next()) {
                names.add(rows.getString(1));
            }
        }
        return names;
    }
}
