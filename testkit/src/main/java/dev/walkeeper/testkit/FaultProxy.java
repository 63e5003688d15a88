package dev.walkeeper.testkit;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A TCP proxy on 127.0.0.1 that injects network faults into a connection between two real peers,
 * e.g. a node pushing WAL to a downstream: the peers keep their real sockets, so what is tested is
 * their real reaction to resets, latency, silence and refusal.
 *
 * <pre>{@code
 * try (FaultProxy proxy = FaultProxy.start(downstream.address())) {
 *     // point the upstream node at proxy.address(), then:
 *     proxy.blackHole(true);
 * }
 * }</pre>
 *
 * <p>Every control is thread-safe and acts at once on existing and new connections. Each
 * connection is relayed by blocking threads, a reader and a writer per direction, joined by a
 * bounded queue: the reader stamps each chunk with the time it arrived and the writer forwards it
 * once the current delay has passed since then, so latency does not throttle throughput, order is
 * kept, and a full queue still pushes back on a sender that outruns its receiver. A peer's end of
 * stream is relayed in order as a half-close; a reset or failed write on one side resets both.
 */
public final class FaultProxy implements AutoCloseable {

    /** The two directions bytes are forwarded in. */
    public enum Direction {
        CLIENT_TO_TARGET, TARGET_TO_CLIENT
    }

    private static final int CHUNK_SIZE = 64 * 1024;
    /** Up to 16 MiB in flight per direction: room for a WAL segment under delay, yet bounded. */
    private static final int QUEUED_CHUNKS = 256;
    private static final int CONNECT_TIMEOUT_MILLIS = 10_000;
    /** Another process may take a port between {@link FreePort#find()} and the bind. */
    private static final int BIND_ATTEMPTS = 10;

    private final ServerSocket server;
    private final InetSocketAddress address;
    private final InetSocketAddress target;
    private final Thread acceptor;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private final AtomicInteger accepted = new AtomicInteger();
    private final AtomicLongArray forwarded = new AtomicLongArray(Direction.values().length);
    /** Guards the delay and the black hole; writers and connections waiting on them are woken on change. */
    private final Object settings = new Object();
    private long delayNanos;
    private boolean blackHole;
    private volatile boolean refuse;
    private volatile boolean closed;

    private FaultProxy(ServerSocket server, InetSocketAddress target) {
        this.server = server;
        this.address = new InetSocketAddress(server.getInetAddress(), server.getLocalPort());
        this.target = target;
        this.acceptor = new Thread(this::acceptLoop, "fault-proxy-" + address.getPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /**
     * A proxy to {@code target} on a free port. The port comes from {@link FreePort}, outside the
     * ephemeral range, so that a test can close the proxy and start another on the same port
     * without an outgoing connection having taken it meanwhile.
     */
    public static FaultProxy start(InetSocketAddress target) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                return start(FreePort.find(), target);
            } catch (BindException e) {
                if (attempt == BIND_ATTEMPTS) {
                    throw e;
                }
            }
        }
    }

    /**
     * A proxy to {@code target} on {@code port} of 127.0.0.1.
     *
     * @throws BindException naming the address if the port is taken
     */
    public static FaultProxy start(int port, InetSocketAddress target) throws IOException {
        Objects.requireNonNull(target);
        ServerSocket server = new ServerSocket();
        try {
            // Lets a proxy restarted on the same port bind while old connections are in TIME_WAIT.
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
        } catch (BindException e) {
            server.close();
            throw new BindException("Cannot listen on 127.0.0.1:" + port + ": " + e.getMessage());
        } catch (IOException e) {
            server.close();
            throw e;
        }
        return new FaultProxy(server, target);
    }

    /** Where clients connect instead of the target. */
    public InetSocketAddress address() {
        return address;
    }

    public InetSocketAddress target() {
        return target;
    }

    /**
     * Resets every current connection on both sides (RST, not FIN: an abrupt failure such as a
     * crashed peer or a dropped route). New connections are accepted as usual.
     */
    public void cut() {
        for (Connection connection : List.copyOf(connections)) {
            connection.abort();
        }
    }

    /**
     * Forwards every chunk in both directions {@code latency} after it arrived, so a round trip
     * takes twice as long. Applies to chunks already waiting too: {@link Duration#ZERO} releases
     * them at once.
     */
    public void delay(Duration latency) {
        if (latency.isNegative()) {
            throw new IllegalArgumentException("negative delay " + latency);
        }
        synchronized (settings) {
            delayNanos = latency.toNanos();
            settings.notifyAll();
        }
    }

    /**
     * Switches a silent partition on or off. While on, connections are still accepted and bytes
     * still read, but nothing is forwarded and nothing is closed: the peers see no error, only
     * silence. A connection accepted meanwhile reaches the target only once the partition heals.
     *
     * <p>Turning it off forwards new bytes again; bytes swallowed meanwhile are dropped for good,
     * so a byte stream resumes with a gap, as after a real partition that outlasted TCP's
     * retransmissions. A connection whose peer closed or reset it during the partition is reset
     * when the partition heals, as a real peer's stack would answer the other side's next packet.
     * Chunks already being written when it is switched on may still arrive.
     */
    public void blackHole(boolean on) {
        List<Connection> broken = new ArrayList<>();
        synchronized (settings) {
            blackHole = on;
            if (!on) {
                for (Connection connection : connections) {
                    if (connection.endSwallowed) {
                        broken.add(connection);
                    }
                }
            }
            settings.notifyAll();
        }
        for (Connection connection : broken) {
            connection.abort();
        }
    }

    /**
     * While on, new connections are accepted and reset at once, as if the target were down;
     * current connections are left alone.
     */
    public void refuse(boolean on) {
        refuse = on;
    }

    /** Connections relayed right now (or waiting for a partition to heal); refused ones never count. */
    public int activeConnections() {
        return connections.size();
    }

    /** Bytes written to the receiving side in {@code direction}, over all connections so far. */
    public long bytesForwarded(Direction direction) {
        return forwarded.get(direction.ordinal());
    }

    /** Every connection accepted so far, refused ones included, so that reconnect attempts show. */
    public int connectionsAccepted() {
        return accepted.get();
    }

    /** Stops accepting, frees the port and resets every connection. */
    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // the port is released either way
        }
        try {
            // After this no connection can register any more, so the cut below catches them all.
            acceptor.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        cut();
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                // Closed, which ends the loop, or a failure of that one connection.
                continue;
            }
            accepted.incrementAndGet();
            if (refuse) {
                reset(client);
                continue;
            }
            try {
                noDelay(client);
            } catch (IOException e) {
                reset(client); // already broken
                continue;
            }
            new Connection(client).open();
        }
    }

    /** Forwards small messages at once: Nagle's algorithm would add latency nobody asked for. */
    private static void noDelay(Socket socket) throws IOException {
        socket.setTcpNoDelay(true);
    }

    /** Closes with RST: a linger of zero makes the kernel discard unsent data and reset. */
    private static void reset(Socket socket) {
        try {
            socket.setSoLinger(true, 0);
        } catch (IOException ignored) {
            // already closed
        }
        closeQuietly(socket);
    }

    private static void closeQuietly(Socket socket) {
        try {
            socket.close();
        } catch (IOException ignored) {
            // nothing left to release
        }
    }

    /** Bytes read from one side, or that side's end of stream when {@code bytes} is null. */
    private record Chunk(byte[] bytes, long arrivedNanos) {

        boolean isEnd() {
            return bytes == null;
        }
    }

    private final class Connection {

        private final Socket client;
        private final String name;
        private final BlockingQueue<Chunk> toTarget = new ArrayBlockingQueue<>(QUEUED_CHUNKS);
        private final BlockingQueue<Chunk> toClient = new ArrayBlockingQueue<>(QUEUED_CHUNKS);
        /** Guarded by this. */
        private final List<Thread> threads = new ArrayList<>();
        /** Guarded by this; null until connected, which a partition postpones. */
        private Socket targetSocket;
        /** Guarded by this: relaying has ended, by a reset or with both directions closed. */
        private boolean done;
        /** Guarded by this. */
        private int openDirections = 2;
        /** Guarded by {@link #settings}: an end of stream fell into the black hole. */
        private boolean endSwallowed;

        Connection(Socket client) {
            this.client = client;
            this.name = "fault-proxy-" + address.getPort() + "-" + client.getPort();
        }

        void open() {
            connections.add(this);
            spawn("read-client", () -> read(client, toTarget));
            spawn("write-client", () -> write(toClient, client, Direction.TARGET_TO_CLIENT));
            spawn("read-target", this::connectAndRelay);
        }

        private void connectAndRelay() {
            try {
                synchronized (settings) {
                    while (blackHole) {
                        settings.wait();
                    }
                    if (endSwallowed) {
                        return; // healing resets this connection
                    }
                }
            } catch (InterruptedException e) {
                return; // reset
            }
            Socket socket = new Socket();
            try {
                noDelay(socket);
                socket.connect(target, CONNECT_TIMEOUT_MILLIS);
            } catch (IOException e) {
                reset(socket);
                abort(); // the client sees the target's refusal as a reset
                return;
            }
            synchronized (this) {
                if (done) {
                    reset(socket);
                    return;
                }
                targetSocket = socket;
            }
            spawn("write-target", () -> write(toTarget, socket, Direction.CLIENT_TO_TARGET));
            read(socket, toClient);
        }

        private void read(Socket from, BlockingQueue<Chunk> queue) {
            byte[] buffer = new byte[CHUNK_SIZE];
            try {
                InputStream in = from.getInputStream();
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    if (!swallowed(false)) {
                        queue.put(new Chunk(Arrays.copyOf(buffer, n), System.nanoTime()));
                    }
                }
                if (!swallowed(true)) {
                    queue.put(new Chunk(null, System.nanoTime()));
                }
            } catch (IOException e) {
                if (!swallowed(true)) {
                    abort();
                }
            } catch (InterruptedException e) {
                // reset
            }
        }

        private void write(BlockingQueue<Chunk> queue, Socket to, Direction direction) {
            try {
                OutputStream out = to.getOutputStream();
                while (true) {
                    Chunk chunk = queue.take();
                    if (!awaitForwarding(chunk)) {
                        continue;
                    }
                    if (chunk.isEnd()) {
                        to.shutdownOutput();
                        directionClosed();
                        return;
                    }
                    out.write(chunk.bytes());
                    forwarded.addAndGet(direction.ordinal(), chunk.bytes().length);
                }
            } catch (IOException e) {
                abort();
            } catch (InterruptedException e) {
                // reset
            }
        }

        /** Waits out the delay; false if the black hole takes the chunk instead. */
        private boolean awaitForwarding(Chunk chunk) throws InterruptedException {
            synchronized (settings) {
                long left;
                while ((left = chunk.arrivedNanos() + delayNanos - System.nanoTime()) > 0) {
                    TimeUnit.NANOSECONDS.timedWait(settings, left);
                }
                return !swallowed(chunk.isEnd());
            }
        }

        /** Whether the black hole is on; an end it takes is remembered so healing can reset. */
        private boolean swallowed(boolean end) {
            synchronized (settings) {
                if (blackHole && end) {
                    endSwallowed = true;
                }
                return blackHole;
            }
        }

        private synchronized void spawn(String role, Runnable task) {
            if (done) {
                return;
            }
            Thread thread = new Thread(task, name + "-" + role);
            thread.setDaemon(true);
            threads.add(thread);
            thread.start();
        }

        /** Both peers have closed their sending side, and the other one was told: a clean end. */
        private void directionClosed() {
            Socket socket;
            synchronized (this) {
                if (--openDirections > 0 || done) {
                    return;
                }
                done = true;
                socket = targetSocket;
            }
            connections.remove(this);
            closeQuietly(client);
            closeQuietly(socket);
        }

        void abort() {
            List<Thread> running;
            Socket socket;
            synchronized (this) {
                if (done) {
                    return;
                }
                done = true;
                running = List.copyOf(threads);
                socket = targetSocket;
            }
            connections.remove(this);
            reset(client);
            if (socket != null) {
                reset(socket);
            }
            for (Thread thread : running) {
                if (thread != Thread.currentThread()) {
                    thread.interrupt(); // wakes those waiting on a queue, the delay or the partition
                }
            }
        }
    }
}
