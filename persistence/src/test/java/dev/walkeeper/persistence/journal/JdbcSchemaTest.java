package dev.walkeeper.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The rewriting that makes pekko-persistence-jdbc's DDL idempotent (applied for real in JdbcJournalTest). */
class JdbcSchemaTest {

    @Test
    void createStatementsGainIfNotExists() {
        assertEquals("CREATE TABLE IF NOT EXISTS public.t(x int)", JdbcSchema.idempotent("CREATE TABLE public.t(x int)"));
        assertEquals("CREATE UNIQUE INDEX IF NOT EXISTS i ON t(x)", JdbcSchema.idempotent("CREATE UNIQUE INDEX i ON t(x)"));
        assertEquals("CREATE INDEX CONCURRENTLY IF NOT EXISTS i on t (x)",
                JdbcSchema.idempotent("CREATE INDEX CONCURRENTLY i on t (x)"));
        assertEquals("create index\n  IF NOT EXISTS i on t(x)", JdbcSchema.idempotent("create index\n  i on t(x)"));
    }

    @Test
    void statementsThatAlreadyHaveItAreKept() {
        String statement = "CREATE TABLE IF NOT EXISTS public.event_journal(ordering BIGSERIAL)";
        assertEquals(statement, JdbcSchema.idempotent(statement));
        assertEquals("CREATE INDEX IF NOT EXISTS i ON t(x)", JdbcSchema.idempotent("CREATE INDEX IF NOT EXISTS i ON t(x)"));
    }

    @Test
    void otherStatementsAreRefused() {
        IllegalStateException refused = assertThrows(IllegalStateException.class,
                () -> JdbcSchema.idempotent("ALTER TABLE t ADD COLUMN y int"));
        assertTrue(refused.getMessage().contains("ALTER TABLE t ADD COLUMN y int"), refused.getMessage());
    }

    @Test
    void theShippedScriptBecomesSevenIdempotentStatements() {
        List<String> statements = JdbcSchema.statements();
        assertEquals(7, statements.size(), String.join("\n;\n", statements));
        for (String statement : statements) {
            assertTrue(statement.matches("(?is)CREATE (UNIQUE )?(TABLE|INDEX) (CONCURRENTLY )?IF NOT EXISTS .*"), statement);
        }
    }
}
