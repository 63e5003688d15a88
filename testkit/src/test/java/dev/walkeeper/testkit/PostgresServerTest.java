package dev.walkeeper.testkit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class PostgresServerTest {

    @Test
    void twoServersRunSideBySideAndCloseCleansUp() throws Exception {
        Path firstDir;
        Path secondDir;
        int firstPort;
        int secondPort;
        try (PostgresServer first = PostgresServer.builder().build().start();
             PostgresServer second = PostgresServer.builder().build().start()) {
            firstDir = first.dataDir();
            secondDir = second.dataDir();
            firstPort = first.port();
            secondPort = second.port();
            assertNotEquals(firstPort, secondPort);
            for (PostgresServer pg : new PostgresServer[] {first, second}) {
                assertEquals("1", pg.psql("select 1"));
                assertEquals("replica", pg.psql("show wal_level"));
                assertEquals(Integer.toString(pg.port()), pg.psql("show port"));
                assertEquals(PgUser.get().name(), Files.getOwner(pg.dataDir()).getName());
            }
            first.psql("create table t(x int); insert into t values (1)");
            assertEquals("0", second.psql("select count(*) from pg_class where relname = 't'"));
            assertFalse(FreePort.isFree(firstPort));
        }
        assertFalse(Files.exists(firstDir.getParent()), "temp dir removed");
        assertFalse(Files.exists(secondDir.getParent()), "temp dir removed");
        assertTrue(FreePort.isFree(firstPort), "port released");
        assertTrue(FreePort.isFree(secondPort), "port released");
    }

    @Test
    void optionsReachTheConfigAndDataSurvivesACrashRestart() throws Exception {
        try (PostgresServer pg = PostgresServer.builder()
                .synchronousStandbyNames("ANY 1 (walkeeper)")
                .maxWalSenders(4)
                .config("wal_sender_timeout = 5s")
                .build().start()) {
            assertEquals("ANY 1 (walkeeper)", pg.psql("show synchronous_standby_names"));
            assertEquals("4", pg.psql("show max_wal_senders"));
            assertEquals("5s", pg.psql("show wal_sender_timeout"));
            // Without a standby a synchronous commit would wait forever; turn it off per statement.
            pg.psql("set synchronous_commit = local; create table t(x int); insert into t values (1), (2)");
            pg.stop();
            assertFalse(pg.psqlResult("select 1").succeeded());
            pg.start();
            assertEquals("2", pg.psql("select count(*) from t"));

            // A server that dies behind the harness's back must not make close() fail.
            long postmaster = Long.parseLong(Files.readAllLines(pg.dataDir().resolve("postmaster.pid")).get(0).trim());
            ProcessHandle handle = ProcessHandle.of(postmaster).orElseThrow();
            handle.destroyForcibly();
            handle.onExit().join();
        }
    }

    @Test
    void scramRejectsWrongPasswordAndAcceptsTheRightOne() {
        try (PostgresServer pg = PostgresServer.builder().scramAuth("walkeeper", "s3cret'pw").build().start()) {
            String conninfo = pg.conninfo("postgres", "walkeeper");

            ProcessResult wrong = pg.psqlResult(conninfo, "wrong", "select 1");
            assertNotEquals(0, wrong.exitCode());
            assertTrue(wrong.stderr().contains("password authentication failed"), wrong.stderr());

            ProcessResult none = pg.psqlResult(conninfo, null, "select 1");
            assertNotEquals(0, none.exitCode(), none.stdout());

            ProcessResult right = pg.psqlResult(conninfo, "s3cret'pw", "select current_user");
            assertEquals("walkeeper", right.requireSuccess("psql as walkeeper").stdout().trim());

            ProcessResult replication = pg.psqlResult(conninfo + " replication=true", "s3cret'pw",
                    "IDENTIFY_SYSTEM");
            assertTrue(replication.requireSuccess("replication connection").stdout().contains("|"),
                    replication.stdout());

            assertTrue(pg.superuserPassword().isPresent());
            assertEquals("postgres", pg.psql("select current_user"));
        }
    }

    @Test
    void aServerStartsFromACopyOfAnotherDataDirectoryAndLeavesTheSourceAlone() throws Exception {
        try (PostgresServer source = PostgresServer.builder().build().start()) {
            source.psql("create table t(x int); insert into t values (1), (2), (3)");
            source.stop();
            try (PostgresServer copy = PostgresServer.builder().fromDataDirectory(source.dataDir())
                    .config("work_mem = '7MB'").build().start()) {
                assertNotEquals(source.port(), copy.port());
                assertNotEquals(source.dataDir(), copy.dataDir());
                assertEquals(Integer.toString(copy.port()), copy.psql("show port"));
                assertEquals("7MB", copy.psql("show work_mem"));
                assertEquals(PgUser.get().name(), Files.getOwner(copy.dataDir()).getName());
                copy.psql("insert into t values (4)");
                assertEquals("4", copy.psql("select count(*) from t"));
                source.start();
                assertEquals("3", source.psql("select count(*) from t"));
            }
            assertTrue(Files.exists(source.dataDir().resolve("PG_VERSION")), "the source is kept");
        }
        assertThrows(IllegalStateException.class, () -> PostgresServer.builder()
                .fromDataDirectory(Path.of("/nonexistent")).scramAuth("u", "p").build());
        IllegalStateException notADataDir = assertThrows(IllegalStateException.class,
                () -> PostgresServer.builder().fromDataDirectory(Path.of("/nonexistent")).build().start());
        assertTrue(notADataDir.getMessage().contains("Not a PostgreSQL data directory"), notADataDir.getMessage());
    }

    @Test
    void failuresCarryTheDiagnostics() {
        IllegalStateException startFailure = assertThrows(IllegalStateException.class,
                () -> PostgresServer.builder().config("shared_buffers = nonsense").build().start());
        assertTrue(startFailure.getMessage().contains("--- server log ---"), startFailure.getMessage());
        assertTrue(startFailure.getMessage().contains("shared_buffers"), startFailure.getMessage());

        try (PostgresServer pg = PostgresServer.builder().build().start()) {
            AssertionError sqlFailure = assertThrows(AssertionError.class, () -> pg.psql("select no_such_fn()"));
            assertTrue(sqlFailure.getMessage().contains("does not exist"), sqlFailure.getMessage());
        }
    }
}
