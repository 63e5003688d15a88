package dev.walkeeper.ops;

import dev.walkeeper.actors.client.ClientAuthenticator;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * A one-shot, blocking PostgreSQL-protocol client for the CLI: logs in to a node as a replication
 * connection (trust, cleartext, md5 or SCRAM through {@link ClientAuthenticator}), runs one simple
 * query and returns its rows as text. No Pekko: a status call should not start an actor system.
 */
final class StatusClient implements AutoCloseable {
    private final Socket socket = new Socket();
    private final InputStream in;
    private final OutputStream out;
    private final FrameDecoder framer = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
    private final byte[] buffer = new byte[16 * 1024];

    /** A failure the node reported, or a broken exchange: the CLI prints it and exits 1. */
    static final class StatusException extends Exception {
        private final String sqlState;

        StatusException(String message) {
            this(message, null);
        }

        StatusException(String message, String sqlState) {
            super(message);
            this.sqlState = sqlState;
        }

        /** The SQLSTATE of the node's ErrorResponse to a query; null for any other failure. */
        String sqlState() {
            return sqlState;
        }
    }

    private StatusClient(InetSocketAddress address, Duration timeout) throws IOException {
        socket.connect(address, (int) timeout.toMillis());
        socket.setSoTimeout((int) timeout.toMillis());
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    /** Connects and logs in; {@code password} null when the node should trust the user. */
    static StatusClient connect(InetSocketAddress address, String user, String password, Duration timeout)
            throws IOException, StatusException {
        return connect(address, user, password, timeout, null);
    }

    /** As {@link #connect(InetSocketAddress, String, String, Duration)}, with startup {@code options} (or null). */
    static StatusClient connect(InetSocketAddress address, String user, String password, Duration timeout,
                                String options) throws IOException, StatusException {
        StatusClient client = new StatusClient(address, timeout);
        try {
            client.login(user, password, options);
            return client;
        } catch (IOException | StatusException | RuntimeException e) {
            client.close();
            throw e;
        }
    }

    private void login(String user, String password, String options) throws IOException, StatusException {
        Map<String, String> parameters = new java.util.LinkedHashMap<>(Map.of("user", user, "database", "replication",
                "replication", "true", "application_name", "walkeeper status"));
        if (options != null) {
            parameters.put("options", options);
        }
        send(new FrontendMessage.StartupMessage(FrontendMessage.PROTOCOL_3_0, parameters));
        ClientAuthenticator auth = new ClientAuthenticator(user, password, "node");
        boolean authenticated = false;
        while (true) {
            BackendMessage message = receive();
            if (message instanceof BackendMessage.ErrorResponse error) {
                throw new StatusException(error.code() + " " + error.message());
            }
            if (authenticated) {
                if (message instanceof BackendMessage.ReadyForQuery) {
                    return;
                }
                continue; // ParameterStatus, BackendKeyData
            }
            ClientAuthenticator.Step step = auth.onMessage(message);
            if (step instanceof ClientAuthenticator.Reply reply) {
                send(reply.message());
            } else if (step instanceof ClientAuthenticator.Failed failed) {
                throw new StatusException(failed.reason());
            } else if (step == ClientAuthenticator.Authenticated.INSTANCE) {
                authenticated = true;
            } else if (step == ClientAuthenticator.NotAuthentication.INSTANCE) {
                throw new StatusException("unexpected message while logging in: " + message);
            }
        }
    }

    /** Runs {@code sql}; each row's values as text (null for SQL NULL), by column name order. */
    Result query(String sql) throws IOException, StatusException {
        send(new FrontendMessage.Query(sql));
        List<String> columns = List.of();
        List<List<String>> rows = new ArrayList<>();
        BackendMessage.ErrorResponse error = null;
        while (true) {
            BackendMessage message = receive();
            if (message instanceof BackendMessage.RowDescription description) {
                columns = description.fields().stream().map(BackendMessage.RowDescription.Field::name).toList();
            } else if (message instanceof BackendMessage.DataRow row) {
                rows.add(row.values().stream()
                        .map(v -> v == null ? null : new String(v, StandardCharsets.UTF_8))
                        .collect(ArrayList::new, ArrayList::add, ArrayList::addAll));
            } else if (message instanceof BackendMessage.ErrorResponse e) {
                error = e;
            } else if (message instanceof BackendMessage.ReadyForQuery) {
                if (error != null) {
                    throw new StatusException(error.code() + " " + error.message(), error.code());
                }
                return new Result(columns, rows);
            }
        }
    }

    /** A result set: {@link #value} finds a row's value by its column's name. */
    record Result(List<String> columns, List<List<String>> rows) {
        String value(List<String> row, String column) {
            int i = columns.indexOf(column);
            if (i < 0) {
                throw new IllegalStateException("no column " + column + " in " + columns);
            }
            return row.get(i);
        }
    }

    /** How long a query may take before the read fails (a copy takes longer than a status). */
    void readTimeout(Duration timeout) throws IOException {
        socket.setSoTimeout((int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
    }

    private void send(FrontendMessage message) throws IOException {
        out.write(FrontendCodec.encode(message));
        out.flush();
    }

    private BackendMessage receive() throws IOException, StatusException {
        while (true) {
            Frame frame = framer.next();
            if (frame != null) {
                return BackendCodec.decode(frame);
            }
            int n = in.read(buffer);
            if (n < 0) {
                throw new StatusException("the node closed the connection");
            }
            framer.feed(Arrays.copyOf(buffer, n));
        }
    }

    @Override
    public void close() {
        try {
            if (!socket.isClosed() && socket.isConnected()) {
                send(new FrontendMessage.Terminate());
            }
        } catch (IOException ignored) {
            // closing anyway
        }
        try {
            socket.close();
        } catch (IOException ignored) {
            // nothing left to release
        }
    }
}
