package dev.walkeeper.actors.replication;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.auth.AuthenticationFailedException;
import dev.walkeeper.protocol.auth.Md5Authentication;
import dev.walkeeper.protocol.auth.ScramServerExchange;
import dev.walkeeper.protocol.auth.ScramVerifier;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationCleartextPassword;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationMd5Password;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSasl;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslContinue;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslFinal;
import dev.walkeeper.protocol.pg.BackendMessage.BackendKeyData;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.PasswordMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.SslRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.ReplicationCommand;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.pg.StartupOptions;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A downstream for tests, as replication-protocol.md describes one, made of plain blocking sockets
 * and the protocol module's codecs: it authenticates the pusher (trust, cleartext, md5 or
 * SCRAM-SHA-256), answers {@code START_PUSH_REPLICATION} through {@link PushReceiverSession}
 * (CopyBoth, {@code 'i'}, {@code 'r'} after each group of writes is flushed with the
 * {@code ReceivedWalWriter} of {@link PushReceivers}), and records what it saw for the assertions.
 * One thread per connection.
 */
final class FakeDownstream implements AutoCloseable {

    enum Auth { TRUST, PASSWORD, MD5, SCRAM }

    private static final SecureRandom RANDOM = new SecureRandom();

    private final ServerSocket server;
    private final Auth auth;
    private final String user;
    private final String password;
    private final PushReceivers receivers;
    private final Thread acceptor;
    private final Set<Socket> sockets = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    /** Startup parameters of every connection, in order. */
    final List<Map<String, String>> startups = new CopyOnWriteArrayList<>();
    /** Every simple Query received. */
    final List<String> queries = new CopyOnWriteArrayList<>();
    /** Every ErrorResponse sent. */
    final List<ErrorResponse> errors = new CopyOnWriteArrayList<>();
    /** The highest end of WAL received in an XLogData, and the highest wal_end declared. */
    final AtomicLong maxDataEnd = new AtomicLong();
    final AtomicLong maxWalEnd = new AtomicLong();
    /** WAL bytes received in XLogData, re-pushes included. */
    final AtomicLong walBytesReceived = new AtomicLong();
    final AtomicInteger keepalives = new AtomicInteger();
    final AtomicInteger connections = new AtomicInteger();
    final AtomicInteger copyDones = new AtomicInteger();
    final AtomicInteger terminates = new AtomicInteger();
    /** While set, pushing connections stop reading their socket (a stalled downstream). */
    volatile boolean stalled;
    /** While set, a connection accepts but never answers (a downstream hung in startup). */
    volatile boolean mute;

    FakeDownstream(Auth auth, String user, String password, PushReceivers receivers) throws IOException {
        this(auth, user, password, receivers, 0);
    }

    /** @param receiveBuffer SO_RCVBUF of accepted sockets, 0 for the system's default */
    FakeDownstream(Auth auth, String user, String password, PushReceivers receivers, int receiveBuffer)
            throws IOException {
        this.auth = auth;
        this.user = user;
        this.password = password;
        this.receivers = receivers;
        this.server = new ServerSocket();
        if (receiveBuffer > 0) {
            server.setReceiveBufferSize(receiveBuffer); // inherited by accepted sockets, set before listening
        }
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        acceptor = new Thread(this::acceptLoop, "fake-downstream-" + server.getLocalPort());
        acceptor.setDaemon(true);
        acceptor.start();
    }

    InetSocketAddress address() {
        return new InetSocketAddress(server.getInetAddress(), server.getLocalPort());
    }

    /** Connections open now. */
    int openConnections() {
        return sockets.size();
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        for (Socket socket : List.copyOf(sockets)) {
            socket.close();
        }
    }

    private void acceptLoop() {
        while (!closed) {
            Socket socket;
            try {
                socket = server.accept();
            } catch (IOException e) {
                continue;
            }
            connections.incrementAndGet();
            sockets.add(socket);
            Thread thread = new Thread(() -> serve(socket), "fake-downstream-conn-" + socket.getPort());
            thread.setDaemon(true);
            thread.start();
        }
    }

    private void serve(Socket socket) {
        try (socket) {
            socket.setTcpNoDelay(true);
            new Session(socket).run();
        } catch (IOException | RuntimeException e) {
            // the peer went away or misbehaved: the connection ends
        } finally {
            sockets.remove(socket);
        }
    }

    /** One connection, served on its own thread. */
    private final class Session {
        private final Socket socket;
        private final InputStream in;
        private final OutputStream out;
        private final FrameDecoder framer = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        private final byte[] buffer = new byte[64 * 1024];
        private Map<String, String> parameters;

        Session(Socket socket) throws IOException {
            this.socket = socket;
            this.in = socket.getInputStream();
            this.out = socket.getOutputStream();
        }

        void run() throws IOException {
            FrontendMessage first = receive();
            while (first instanceof SslRequest) {
                out.write(new byte[] {BackendCodec.SSL_REFUSED});
                first = receive();
            }
            if (mute) {
                while (receive() != null) {
                    // swallow, answer nothing
                }
                return;
            }
            parameters = ((StartupMessage) first).parameters();
            startups.add(parameters);
            if (!authenticate()) {
                return;
            }
            send(new AuthenticationOk());
            send(new ParameterStatus("server_version", "15.0"));
            send(new BackendKeyData(1, 2));
            send(ReadyForQuery.IDLE);
            queryLoop();
        }

        private boolean authenticate() throws IOException {
            String given = parameters.get("user");
            switch (auth) {
                case TRUST -> {
                    return true;
                }
                case PASSWORD -> {
                    send(new AuthenticationCleartextPassword());
                    return check(user.equals(given) && password.equals(((PasswordMessage) receive()).password()));
                }
                case MD5 -> {
                    byte[] salt = new byte[4];
                    RANDOM.nextBytes(salt);
                    send(new AuthenticationMd5Password(salt));
                    String response = ((PasswordMessage) receive()).password();
                    return check(user.equals(given) && Md5Authentication.checkResponse(
                            Md5Authentication.verifier(user, password), salt, response));
                }
                default -> {
                    send(new AuthenticationSasl(List.of(ScramServerExchange.MECHANISM)));
                    ScramVerifier verifier = user.equals(given) ? ScramVerifier.generate(password) : null;
                    ScramServerExchange exchange = new ScramServerExchange(verifier, given, RANDOM);
                    FrontendMessage.SaslInitial initial = ((PasswordMessage) receive()).saslInitial();
                    send(new AuthenticationSaslContinue(exchange.serverFirst(initial.data())));
                    try {
                        byte[] serverFinal = exchange.serverFinal(((PasswordMessage) receive()).body());
                        send(new AuthenticationSaslFinal(serverFinal));
                        return true;
                    } catch (AuthenticationFailedException e) {
                        return check(false);
                    }
                }
            }
        }

        private boolean check(boolean ok) throws IOException {
            if (!ok) {
                send(ErrorResponse.fatal(SqlState.INVALID_PASSWORD,
                        "password authentication failed for user \"" + parameters.get("user") + "\""));
            }
            return ok;
        }

        private void queryLoop() throws IOException {
            for (FrontendMessage message = receive(); message != null; message = receive()) {
                if (message instanceof Terminate) {
                    terminates.incrementAndGet();
                    return;
                }
                if (!(message instanceof Query query)) {
                    send(ErrorResponse.fatal(SqlState.PROTOCOL_VIOLATION, "unexpected " + message));
                    return;
                }
                queries.add(query.sql());
                if (!(ReplicationCommand.parse(query.sql()) instanceof ReplicationCommand.StartPushReplication push)) {
                    send(ErrorResponse.error(SqlState.FEATURE_NOT_SUPPORTED, "not supported here"));
                    send(ReadyForQuery.IDLE);
                    continue;
                }
                Map<String, String> options = StartupOptions.settings(parameters.getOrDefault("options", ""));
                TenantTimelineId fromOptions = options.containsKey("tenant_id")
                        ? new TenantTimelineId(options.get("tenant_id"), options.get("timeline_id")) : null;
                PushReceiverSession.Opening opening = PushReceiverSession.open(push, fromOptions,
                        parameters.get("application_name") + " from " + socket.getRemoteSocketAddress(), receivers);
                sendAll(opening.replies());
                if (opening instanceof PushReceiverSession.Started started) {
                    try (PushReceiverSession session = started.session()) {
                        if (!copyBoth(session)) {
                            return;
                        }
                    }
                }
            }
        }

        /** The CopyBoth stream; true when it ended back in the simple-query loop. */
        private boolean copyBoth(PushReceiverSession session) throws IOException {
            while (true) {
                while (stalled && !closed) {
                    pause();
                }
                FrontendMessage message = receive();
                if (message == null) {
                    return false;
                }
                if (message instanceof CopyData data && data.data().length > 0) {
                    observe(data.data());
                }
                if (message instanceof dev.walkeeper.protocol.pg.CopyDone) {
                    copyDones.incrementAndGet();
                }
                PushReceiverSession.Step step = session.receive(message);
                sendAll(step.replies());
                if (step.next() == PushReceiverSession.Next.CONTINUE && session.flushPending()
                        && framer.buffered() == 0 && in.available() == 0) {
                    // Group commit: flush once nothing more has arrived.
                    step = session.flush();
                    sendAll(step.replies());
                }
                if (step.next() != PushReceiverSession.Next.CONTINUE) {
                    return step.next() == PushReceiverSession.Next.QUERY;
                }
            }
        }

        private void observe(byte[] payload) {
            if (payload[0] != 'w' && payload[0] != 'k') {
                return;
            }
            SenderMessage message;
            try {
                message = ReplicationCodec.decodeSenderMessage(payload);
            } catch (RuntimeException e) {
                return; // the session answers it
            }
            if (message instanceof SenderMessage.XLogData data) {
                maxDataEnd.accumulateAndGet(data.dataEnd().value(), Math::max);
                maxWalEnd.accumulateAndGet(data.walEnd().value(), Math::max);
                walBytesReceived.addAndGet(data.wal().length());
            } else {
                keepalives.incrementAndGet();
            }
        }

        private void pause() {
            try {
                Thread.sleep(5); // the fake's own pacing while stalled, not a test synchronisation
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private void sendAll(List<BackendMessage> messages) throws IOException {
            for (BackendMessage message : messages) {
                if (message instanceof ErrorResponse error) {
                    errors.add(error);
                }
                out.write(BackendCodec.encode(message));
            }
            out.flush();
        }

        private void send(BackendMessage message) throws IOException {
            sendAll(List.of(message));
        }

        /** The next message, or null at the end of the stream. */
        private FrontendMessage receive() throws IOException {
            while (true) {
                Frame frame = framer.next();
                if (frame != null) {
                    return FrontendCodec.decode(frame);
                }
                int n = in.read(buffer);
                if (n < 0) {
                    return null;
                }
                byte[] chunk = new byte[n];
                System.arraycopy(buffer, 0, chunk, 0, n);
                framer.feed(chunk);
            }
        }
    }

    /** Lsn helper for assertions. */
    Lsn maxDataEndLsn() {
        return new Lsn(maxDataEnd.get());
    }

    /** Error codes sent, in order. */
    List<String> errorCodes() {
        List<String> codes = new ArrayList<>();
        for (ErrorResponse error : errors) {
            codes.add(error.code());
        }
        return Collections.unmodifiableList(codes);
    }
}
