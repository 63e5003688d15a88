package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.TestProposer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The configurable alternative: a node journaling its acceptor state in a real PostgreSQL 15. */
class JdbcJournalNodeTest {
    private static final TenantTimelineId ID = new TenantTimelineId("77777777777777777777777777777777",
            "88888888888888888888888888888888");

    @TempDir
    Path dataDir;

    @Test
    void aVoteJournaledInPostgresSurvivesANodeRestart() throws Exception {
        try (PostgresServer pg = PostgresServer.builder().build().start()) {
            String journal = """
                    pekko.persistence.journal.plugin = "walkeeper.persistence.jdbc-journal"
                    pekko.persistence.snapshot-store.plugin = "walkeeper.persistence.jdbc-snapshot-store"
                    walkeeper.persistence.jdbc { url = "jdbc:postgresql://127.0.0.1:%d/postgres", user = "postgres" }
                    """.formatted(pg.port());
            try (WalkeeperNode node = TestNodes.start(dataDir, journal);
                 TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
                proposer.greet(150018, 42, 16 * 1024 * 1024);
                assertTrue(proposer.vote(5).voteGiven());
            }
            assertEquals("1", pg.psql("select count(*) from event_journal where persistence_id like 'timeline|%'"
                    + " and sequence_number = 2"), "the vote is a row in PostgreSQL");
            try (WalkeeperNode node = TestNodes.start(dataDir, journal);
                 TestProposer proposer = TestProposer.connect(node.address(), ID, "compute", null)) {
                assertEquals(5, proposer.greet(150018, 42, 16 * 1024 * 1024).term());
                assertFalse(proposer.vote(5).voteGiven(), "never two votes in one term");
            }
        }
    }
}
