package dev.walkeeper.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.walkeeper.persistence.DataDirectory;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A whole node in this JVM: it listens where it says, owns its data directory, and lets both go on close. */
class WalkeeperNodeTest {
    private static final String LOOPBACK = "127.0.0.1";

    @TempDir
    Path dataDir;

    private static Config config(Path dataDir, int port) {
        return ConfigFactory.load(ConfigFactory.parseString("walkeeper { listen { host = \"" + LOOPBACK
                + "\", port = " + port + " }, data-dir = \"" + dataDir.toString().replace("\\", "/") + "\" }"));
    }

    /** Sends an SSLRequest over a fresh socket and returns the one-byte answer. */
    static int sslAnswer(InetSocketAddress address) throws IOException {
        try (Socket socket = new Socket(address.getAddress(), address.getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(FrontendCodec.encode(new FrontendMessage.SslRequest()));
            return socket.getInputStream().read();
        }
    }

    @Test
    void aNodeOnPortZeroListensOnARealPortAndAnswersAnSslRequest() throws Exception {
        try (WalkeeperNode node = WalkeeperNode.start(config(dataDir, 0))) {
            assertEquals(LOOPBACK, node.address().getAddress().getHostAddress());
            assertNotEquals(0, node.address().getPort());
            assertEquals('N', sslAnswer(node.address()));
        }
    }

    @Test
    void aSecondNodeOnTheSameDataDirectoryIsRefusedAndTheFirstKeepsWorking() throws Exception {
        try (WalkeeperNode first = WalkeeperNode.start(config(dataDir, 0))) {
            StartupException e = assertThrows(StartupException.class,
                    () -> WalkeeperNode.start(config(dataDir, 0)).close());
            assertEquals(StartupException.Reason.DATA_DIR_IN_USE, e.reason());
            assertTrue(e.getMessage().contains("in use"), e.getMessage());
            assertTrue(e.getMessage().contains(dataDir.toAbsolutePath().normalize().toString()), e.getMessage());

            assertEquals('N', sslAnswer(first.address()));
        }
    }

    @Test
    void aNodeOnAPortAlreadyBoundFailsNamingTheAddressAndReleasesItsDataDirectory() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName(LOOPBACK))) {
            int port = taken.getLocalPort();
            StartupException e = assertThrows(StartupException.class,
                    () -> WalkeeperNode.start(config(dataDir, port)).close());
            assertEquals(StartupException.Reason.CANNOT_LISTEN, e.reason());
            assertTrue(e.getMessage().contains(LOOPBACK + ":" + port), e.getMessage());
        }
        // A failed start must not leave the directory locked for the next attempt.
        DataDirectory.open(dataDir).close();
    }

    @Test
    void closeReleasesThePortAndTheDataDirectory() throws Exception {
        WalkeeperNode node = WalkeeperNode.start(config(dataDir, 0));
        InetSocketAddress address = node.address();
        assertEquals('N', sslAnswer(address));

        node.close();

        assertEquals(WalkeeperNode.Ending.STOPPED, node.whenEnded().toCompletableFuture().getNow(null),
                "close() returns after the node ended");
        DataDirectory.open(dataDir).close();
        try (ServerSocket rebound = new ServerSocket()) {
            rebound.bind(address);
        }
        // And the real use: a restart on the same port and directory.
        try (WalkeeperNode restarted = WalkeeperNode.start(config(dataDir, address.getPort()))) {
            assertEquals(address.getPort(), restarted.address().getPort());
            assertEquals('N', sslAnswer(restarted.address()));
        }
    }
}
