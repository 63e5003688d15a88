package dev.walkeeper.testkit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.walkeeper.testkit.FaultProxy.Direction;
import java.io.IOException;
import java.io.InputStream;
import java.net.BindException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FaultProxyTest {

    private static final int TIMEOUT_MILLIS = 5_000;
    /** How long "nothing arrives" is watched for; silence cannot be awaited, only bounded. */
    private static final int SILENCE_MILLIS = 300;

    private final List<Socket> clients = new ArrayList<>();
    private EchoServer echo;
    private FaultProxy proxy;

    @BeforeEach
    void start() throws IOException {
        echo = new EchoServer();
        proxy = FaultProxy.start(echo.address());
    }

    @AfterEach
    void stop() throws IOException {
        proxy.close();
        for (Socket client : clients) {
            client.close();
        }
        echo.close();
    }

    @Test
    void bytesRoundTripInBothDirectionsAndAreCounted() throws Exception {
        Socket client = connect();
        roundTrip(client, "hello");

        // Far more than the socket buffers hold: only works if the proxy relays both ways at once.
        byte[] bulk = new byte[4 * 1024 * 1024];
        new Random(42).nextBytes(bulk);
        CompletableFuture<Void> sent = CompletableFuture.runAsync(() -> {
            try {
                client.getOutputStream().write(bulk);
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        assertArrayEquals(bulk, client.getInputStream().readNBytes(bulk.length));
        sent.get(TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);

        long total = 5 + bulk.length;
        assertEquals(total, proxy.bytesForwarded(Direction.CLIENT_TO_TARGET));
        assertEquals(total, proxy.bytesForwarded(Direction.TARGET_TO_CLIENT));
        assertEquals(1, proxy.connectionsAccepted());
        assertEquals(1, proxy.activeConnections());

        client.shutdownOutput();
        assertEquals(-1, client.getInputStream().read(), "the target's close is relayed after the client's");
        assertTrue(echo.ended.tryAcquire(TIMEOUT_MILLIS, TimeUnit.MILLISECONDS));
        await(() -> proxy.activeConnections() == 0, "connection released after both sides closed");
    }

    @Test
    void cutEndsBothSidesAndNewConnectionsStillWork() throws Exception {
        Socket first = connect();
        Socket second = connect();
        roundTrip(first, "one");
        roundTrip(second, "two");

        proxy.cut();

        assertEquals(0, proxy.activeConnections());
        // Reset rather than closed, as after a crash: neither end gets a clean end of stream.
        assertThrows(SocketException.class, () -> first.getInputStream().read());
        assertThrows(SocketException.class, () -> second.getInputStream().read());
        assertTrue(echo.ended.tryAcquire(2, TIMEOUT_MILLIS, TimeUnit.MILLISECONDS), "the target saw both ends");

        roundTrip(connect(), "again");
        assertEquals(3, proxy.connectionsAccepted());
        assertEquals(1, proxy.activeConnections());
    }

    @Test
    void delayAddsLatencyBothWaysKeepsOrderAndCanBeLifted() throws Exception {
        Socket client = connect();
        roundTrip(client, "warm-up");
        proxy.delay(Duration.ofMillis(200));

        long started = System.nanoTime();
        roundTrip(client, "x");
        long roundTripMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        assertTrue(roundTripMillis >= 400, "200 ms each way, took " + roundTripMillis + " ms");

        StringBuilder expected = new StringBuilder();
        started = System.nanoTime();
        for (int i = 0; i < 100; i++) {
            String message = i + ",";
            expected.append(message);
            client.getOutputStream().write(message.getBytes(StandardCharsets.US_ASCII));
        }
        assertEquals(expected.toString(), read(client, expected.length()));
        long burstMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        // Chunks are delayed side by side, not one after another (which would take 100 * 400 ms).
        assertTrue(burstMillis < 4_000, "100 writes took " + burstMillis + " ms");

        // A chunk already waiting out a long delay is released when the delay is lifted.
        proxy.delay(Duration.ofSeconds(30));
        write(client, "late");
        assertSilent(client);
        proxy.delay(Duration.ZERO);
        assertEquals("late", read(client, 4));
    }

    @Test
    void blackHoleSwallowsSilentlyThenForwardsNewBytes() throws Exception {
        Socket client = connect();
        roundTrip(client, "before");
        long receivedBefore = echo.received.get();

        proxy.blackHole(true);
        write(client, "lost");
        Socket duringPartition = connect();
        write(duringPartition, "lost too");
        assertSilent(client);
        assertSilent(duringPartition);
        assertEquals(receivedBefore, echo.received.get(), "nothing reached the target");
        assertEquals(1, echo.accepted.get(), "the new connection did not reach the target either");
        assertEquals(0, echo.ended.availablePermits(), "the target saw no end");
        assertEquals(2, proxy.activeConnections());

        proxy.blackHole(false);
        roundTrip(client, "after");
        roundTrip(duringPartition, "healed");
        assertEquals(2, echo.accepted.get());
    }

    @Test
    void anEndSwallowedByTheBlackHoleResetsTheConnectionWhenItHeals() throws Exception {
        Socket client = connect();
        roundTrip(client, "before");

        proxy.blackHole(true);
        client.close();
        assertFalse(echo.ended.tryAcquire(SILENCE_MILLIS, TimeUnit.MILLISECONDS), "the close was not relayed");

        proxy.blackHole(false);
        assertTrue(echo.ended.tryAcquire(TIMEOUT_MILLIS, TimeUnit.MILLISECONDS), "the target saw the end on healing");
        await(() -> proxy.activeConnections() == 0, "connection released");
    }

    @Test
    void refuseClosesNewConnectionsAtOnceAndLeavesCurrentOnesAlone() throws Exception {
        Socket current = connect();
        roundTrip(current, "up");

        proxy.refuse(true);
        assertRefused();
        assertRefused();
        roundTrip(current, "still up");
        assertEquals(3, proxy.connectionsAccepted());
        assertEquals(1, proxy.activeConnections());
        assertEquals(1, echo.accepted.get(), "refused connections never reach the target");

        proxy.refuse(false);
        roundTrip(connect(), "back");
    }

    @Test
    void closeEndsConnectionsAndFreesThePort() throws Exception {
        Socket client = connect();
        roundTrip(client, "open");
        int port = proxy.address().getPort();
        BindException taken = assertThrows(BindException.class, () -> FaultProxy.start(port, echo.address()));
        assertTrue(taken.getMessage().contains("127.0.0.1:" + port), taken.getMessage());

        proxy.close();

        assertEnded(client);
        assertEquals(0, proxy.activeConnections());
        assertThrows(ConnectException.class, () -> new Socket(proxy.address().getAddress(), port).close());
        assertTrue(FreePort.isFree(port), "port released");
        proxy = FaultProxy.start(port, echo.address());
        roundTrip(connect(), "restarted on the same port");
    }

    private Socket connect() throws IOException {
        Socket socket = new Socket();
        clients.add(socket);
        socket.setTcpNoDelay(true);
        socket.setSoTimeout(TIMEOUT_MILLIS);
        socket.connect(proxy.address(), TIMEOUT_MILLIS);
        return socket;
    }

    private static void roundTrip(Socket socket, String message) throws IOException {
        write(socket, message);
        assertEquals(message, read(socket, message.length()));
    }

    private static void write(Socket socket, String message) throws IOException {
        socket.getOutputStream().write(message.getBytes(StandardCharsets.US_ASCII));
    }

    private static String read(Socket socket, int length) throws IOException {
        return new String(socket.getInputStream().readNBytes(length), StandardCharsets.US_ASCII);
    }

    /** The peer closed or reset the connection: read returns end of stream or fails, promptly. */
    private static void assertEnded(Socket socket) throws IOException {
        try {
            assertEquals(-1, socket.getInputStream().read());
        } catch (SocketTimeoutException e) {
            fail("connection still open after " + TIMEOUT_MILLIS + " ms");
        } catch (IOException reset) {
            // ended abruptly: fine
        }
    }

    /** The reset may beat the end of the handshake, failing connect itself, as a down target would. */
    private void assertRefused() throws IOException {
        Socket socket;
        try {
            socket = connect();
        } catch (SocketException reset) {
            return;
        }
        assertEnded(socket);
    }

    /** Neither a byte nor an end arrives within the bounded wait. */
    private static void assertSilent(Socket socket) throws IOException {
        socket.setSoTimeout(SILENCE_MILLIS);
        try {
            int read = socket.getInputStream().read();
            fail(read < 0 ? "the connection was closed" : "a byte arrived");
        } catch (SocketTimeoutException expected) {
            // silence
        } finally {
            socket.setSoTimeout(TIMEOUT_MILLIS);
        }
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MILLIS);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("not within " + TIMEOUT_MILLIS + " ms: " + what);
            }
            Thread.sleep(10);
        }
    }

    /** Echoes every connection's bytes back and records what it saw, for asserting on the target's side. */
    private static final class EchoServer implements AutoCloseable {

        final AtomicInteger accepted = new AtomicInteger();
        final AtomicLong received = new AtomicLong();
        /** One permit per connection that ended, by end of stream or reset. */
        final Semaphore ended = new Semaphore(0);
        private final ServerSocket server;
        private final List<Socket> sockets = new ArrayList<>();

        EchoServer() throws IOException {
            server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread acceptor = new Thread(this::acceptLoop, "echo-server");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        InetSocketAddress address() {
            return new InetSocketAddress(server.getInetAddress(), server.getLocalPort());
        }

        private void acceptLoop() {
            try {
                while (true) {
                    Socket socket = server.accept();
                    synchronized (sockets) {
                        sockets.add(socket);
                    }
                    accepted.incrementAndGet();
                    Thread echoer = new Thread(() -> echo(socket), "echo-" + socket.getPort());
                    echoer.setDaemon(true);
                    echoer.start();
                }
            } catch (IOException e) {
                // closed
            }
        }

        private void echo(Socket socket) {
            byte[] buffer = new byte[64 * 1024];
            try (socket) {
                InputStream in = socket.getInputStream();
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    received.addAndGet(n);
                    socket.getOutputStream().write(buffer, 0, n);
                }
            } catch (IOException e) {
                // reset: an end as well
            }
            ended.release();
        }

        @Override
        public void close() throws IOException {
            server.close();
            synchronized (sockets) {
                for (Socket socket : sockets) {
                    socket.close();
                }
            }
        }
    }
}
