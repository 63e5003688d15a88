package dev.walkeeper.testkit;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorCodec;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.ProposerCodec;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A proposer for tests and benchmarks: connects like Neon's walproposer (dbname=replication,
 * tenant and timeline in {@code options}, no replication parameter), runs START_WAL_PUSH
 * (protocol version 3) and then speaks the proposer/acceptor protocol over a plain socket.
 * Appends are pipelined; a reader thread queues what the node answers.
 */
public final class TestProposer implements AutoCloseable {

    /** Something the node sent once in CopyBoth: an acceptor message, an error, or the end. */
    public sealed interface Received {}

    public record Message(AcceptorMessage message) implements Received {}

    public record Error(BackendMessage.ErrorResponse error) implements Received {}

    public record Closed() implements Received {}

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final FrameDecoder framer = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
    private final BlockingQueue<Received> received = new LinkedBlockingQueue<>();
    private final TenantTimelineId id;
    private Thread readerThread;

    private TestProposer(Socket socket, TenantTimelineId id) throws IOException {
        this.socket = socket;
        this.in = socket.getInputStream();
        this.out = new BufferedOutputStream(socket.getOutputStream(), 256 * 1024);
        this.id = id;
    }

    /** Connects, authenticates (trust or cleartext password) and enters CopyBoth with START_WAL_PUSH. */
    public static TestProposer connect(InetSocketAddress address, TenantTimelineId id, String user, String password)
            throws IOException {
        Socket socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(address, 10_000);
        socket.setSoTimeout(30_000);
        TestProposer proposer = new TestProposer(socket, id);
        try {
            proposer.handshake(user, password);
        } catch (IOException | RuntimeException e) {
            socket.close();
            throw e;
        }
        return proposer;
    }

    private void handshake(String user, String password) throws IOException {
        Map<String, String> params = new LinkedHashMap<>();
        params.put("user", user);
        params.put("database", "replication");
        params.put("options", "-c timeline_id=" + id.timelineId() + " tenant_id=" + id.tenantId());
        send(new FrontendMessage.StartupMessage(FrontendMessage.PROTOCOL_3_0, params));
        while (true) {
            BackendMessage m = receiveBackend();
            if (m instanceof BackendMessage.AuthenticationCleartextPassword) {
                if (password == null) {
                    throw new IOException("the node asks for a password and none was given");
                }
                send(FrontendMessage.PasswordMessage.cleartext(password));
            } else if (m instanceof BackendMessage.ErrorResponse e) {
                throw new IOException("connection refused: " + e.code() + " " + e.message());
            } else if (m instanceof BackendMessage.ReadyForQuery) {
                break;
            }
        }
        send(new FrontendMessage.Query("START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')"));
        BackendMessage answer = receiveBackend();
        if (!(answer instanceof BackendMessage.CopyBothResponse)) {
            throw new IOException("START_WAL_PUSH answered " + answer);
        }
        socket.setSoTimeout(0);
        readerThread = new Thread(this::readLoop, "test-proposer-reader");
        readerThread.setDaemon(true);
        readerThread.start();
    }

    private void readLoop() {
        try {
            while (true) {
                BackendMessage m = receiveBackend();
                if (m == null) {
                    break;
                }
                if (m instanceof CopyData data) {
                    received.add(new Message(AcceptorCodec.decode(data.data())));
                } else if (m instanceof BackendMessage.ErrorResponse e) {
                    received.add(new Error(e));
                }
            }
        } catch (IOException | RuntimeException e) {
            // the connection ended: reported as Closed below
        }
        received.add(new Closed());
    }

    private BackendMessage receiveBackend() throws IOException {
        byte[] buffer = new byte[64 * 1024];
        while (true) {
            Frame frame = framer.next();
            if (frame != null) {
                return BackendCodec.decode(frame);
            }
            int n = in.read(buffer);
            if (n < 0) {
                return null;
            }
            framer.feed(Arrays.copyOf(buffer, n));
        }
    }

    private synchronized void send(FrontendMessage message) throws IOException {
        out.write(FrontendCodec.encode(message));
        out.flush();
    }

    /** Sends one proposer message inside CopyData. */
    public void send(ProposerMessage message) throws IOException {
        send(new CopyData(ProposerCodec.encode(message)));
    }

    /** The next thing the node sent, or fails after {@code timeout}. */
    public Received next(Duration timeout) throws InterruptedException {
        Received r = received.poll(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (r == null) {
            throw new AssertionError("nothing from the node within " + timeout);
        }
        return r;
    }

    /** What the node sent, if anything has arrived; never waits. */
    public Received poll() {
        return received.poll();
    }

    /** The next acceptor message, failing on an error or a closed connection. */
    public <M extends AcceptorMessage> M expect(Class<M> type, Duration timeout) throws InterruptedException {
        Received r = next(timeout);
        if (r instanceof Message m && type.isInstance(m.message())) {
            return type.cast(m.message());
        }
        throw new AssertionError("expected " + type.getSimpleName() + ", got " + r);
    }

    public AcceptorMessage.AcceptorGreeting greet(int pgVersion, long systemId, int walSegSize)
            throws IOException, InterruptedException {
        send(new ProposerMessage.ProposerGreeting(id, MembershipConfiguration.EMPTY, pgVersion, systemId, walSegSize));
        return expect(AcceptorMessage.AcceptorGreeting.class, Duration.ofSeconds(30));
    }

    public AcceptorMessage.VoteResponse vote(long term) throws IOException, InterruptedException {
        send(new ProposerMessage.VoteRequest(0, term));
        return expect(AcceptorMessage.VoteResponse.class, Duration.ofSeconds(30));
    }

    public void elect(long term, Lsn startStreamingAt, TermHistory history) throws IOException {
        send(new ProposerMessage.ProposerElected(0, term, startStreamingAt, history));
    }

    /** Pipelines one append; responses are read with {@link #awaitFlush}. */
    public void append(long term, Lsn begin, byte[] wal, Lsn commitLsn) throws IOException {
        send(new ProposerMessage.AppendRequest(0, term, begin, begin.plus(wal.length), commitLsn, Lsn.INVALID, ByteSlice.of(wal)));
    }

    /** Waits until an AppendResponse reports {@code flushLsn >= lsn}; returns that response. */
    public AcceptorMessage.AppendResponse awaitFlush(Lsn lsn, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("no AppendResponse with flush_lsn >= " + lsn + " within " + timeout);
            }
            AcceptorMessage.AppendResponse response = expect(AcceptorMessage.AppendResponse.class,
                    Duration.ofNanos(left));
            if (response.flushLsn().compareTo(lsn) >= 0) {
                return response;
            }
        }
    }

    @Override
    public void close() throws IOException {
        try {
            send(new FrontendMessage.Terminate());
        } catch (IOException ignored) {
            // already gone
        }
        socket.close();
    }
}
