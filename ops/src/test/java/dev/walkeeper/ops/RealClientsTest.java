package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.auth.ScramVerifier;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.FrontendMessage.PasswordMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PgBinaries;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PostgreSQL 15's own client tools against a node started by the test. */
class RealClientsTest {
    private static final String SYSTEM_ID = "7301234567890123456";
    private static final String PASSWORD = "correct horse battery staple";

    @TempDir
    static Path dataDir;

    private static WalkeeperNode node;
    private static PgBinaries pg;

    @BeforeAll
    static void startNode() throws Exception {
        pg = PgBinaries.require();
        // The verifier is pasted in PostgreSQL's pg_authid format, as an operator would.
        String verifier = ScramVerifier.generate(PASSWORD).format();
        node = TestNodes.start(dataDir, """
                walkeeper.system-id = "%s"
                walkeeper.auth.users {
                  walkeeper { method = scram-sha-256, verifier = "%s" }
                  receiver { method = trust }
                }
                """.formatted(SYSTEM_ID, verifier));
    }

    @AfterAll
    static void stopNode() {
        if (node != null) {
            node.close();
        }
    }

    private static String conninfo(String user) {
        return "host=127.0.0.1 port=" + node.address().getPort() + " user=" + user
                + " dbname=replication replication=true sslmode=prefer connect_timeout=10";
    }

    private static ProcessResult psql(String user, String password, String sql) {
        return Processes.run(Command.of(pg.bin("psql").toString(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-d", conninfo(user), "-c", sql)
                .env("PGPASSWORD", password)
                .timeout(Duration.ofSeconds(30)));
    }

    @Test
    void psqlAuthenticatesWithScramAndRunsIdentifySystem() {
        ProcessResult result = psql("walkeeper", PASSWORD, "IDENTIFY_SYSTEM");
        assertEquals(0, result.exitCode(), result.stderr());
        // one row: systemid | timeline | xlogpos | dbname (NULL prints as empty)
        assertEquals(SYSTEM_ID + "|1|0/0|", result.stdout().trim());
    }

    @Test
    void psqlWithAWrongPasswordIsRefused() {
        ProcessResult result = psql("walkeeper", "not the password", "IDENTIFY_SYSTEM");
        assertNotEquals(0, result.exitCode());
        assertTrue(result.stderr().contains("FATAL:  password authentication failed for user \"walkeeper\""),
                result.stderr());
    }

    @Test
    void wrongScramProofGetsFatal28P01OnTheWire() throws Exception {
        try (WireClient client = new WireClient(node.address(), Duration.ofSeconds(10))) {
            client.send(new StartupMessage(196608, Map.of("user", "walkeeper", "replication", "true")));
            BackendMessage.AuthenticationSasl sasl = assertInstanceOf(BackendMessage.AuthenticationSasl.class, client.receive());
            assertEquals("SCRAM-SHA-256", sasl.mechanisms().get(0));
            client.send(PasswordMessage.saslInitial("SCRAM-SHA-256", "n,,n=,r=0123456789abcdef".getBytes(StandardCharsets.UTF_8)));
            String serverFirst = new String(assertInstanceOf(BackendMessage.AuthenticationSaslContinue.class,
                    client.receive()).data(), StandardCharsets.UTF_8);
            String nonce = serverFirst.substring(2, serverFirst.indexOf(','));
            String proof = Base64.getEncoder().encodeToString(new byte[32]);
            client.send(PasswordMessage.sasl(("c=biws,r=" + nonce + ",p=" + proof).getBytes(StandardCharsets.UTF_8)));
            ErrorResponse error = assertInstanceOf(ErrorResponse.class, client.receive());
            assertEquals("FATAL", error.severity());
            assertEquals("28P01", error.code());
            assertTrue(client.drainUntilClosed(), "the node closes the connection after the error");
        }
    }

    @Test
    void pgReceivewalGetsPastTheHandshakeAndIsToldToNameATimeline() throws Exception {
        Path target = Files.createTempDirectory("pg_receivewal");
        ProcessResult result = Processes.run(Command.of(pg.bin("pg_receivewal").toString(), "--no-loop", "--verbose",
                        "-d", "host=127.0.0.1 port=" + node.address().getPort() + " user=receiver connect_timeout=10",
                        "-D", target.toString())
                .timeout(Duration.ofSeconds(60)));
        assertNotEquals(0, result.exitCode());
        // It ran SHOW wal_segment_size, IDENTIFY_SYSTEM and chose a start point from xlogpos ...
        assertTrue(result.stderr().contains("starting log streaming at 0/0 (timeline 1)"), result.stderr());
        // ... then START_REPLICATION got our ErrorResponse: this node serves no timeline by default.
        assertTrue(result.stderr().contains("START_REPLICATION needs tenant_id and timeline_id"), result.stderr());
    }
}
