package dev.walkeeper.protocol.pg;

import dev.walkeeper.protocol.pg.FrontendMessage.CancelRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.CopyFail;
import dev.walkeeper.protocol.pg.FrontendMessage.GssEncRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.PasswordMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.SslRequest;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * {@link FrontendMessage} ⇄ wire bytes. The server decodes with it; walkeeper's own outgoing
 * libpq connections (push replication) encode with it, so both directions live here.
 */
public final class FrontendCodec {
    /** First int32 of an SSLRequest body in place of a protocol version. */
    public static final int SSL_REQUEST_CODE = 80877103;
    /** First int32 of a GSSENCRequest body. */
    public static final int GSSENC_REQUEST_CODE = 80877104;
    /** First int32 of a CancelRequest body. */
    public static final int CANCEL_REQUEST_CODE = 80877102;

    private static final byte PASSWORD = 'p';
    private static final byte QUERY = 'Q';
    private static final byte TERMINATE = 'X';
    private static final byte COPY_FAIL = 'f';
    private static final byte COPY_DATA = 'd';
    private static final byte COPY_DONE = 'c';

    private FrontendCodec() {}

    /**
     * Decodes one frame from {@link FrameDecoder#forServer}.
     *
     * @throws ProtocolException for an unknown type byte or a malformed body ({@link
     *     SqlState#PROTOCOL_VIOLATION}), or a StartupMessage of a protocol major other than 3
     *     ({@link SqlState#FEATURE_NOT_SUPPORTED})
     */
    public static FrontendMessage decode(Frame frame) {
        if (frame.untyped()) {
            return decodeStartupPacket(frame.body());
        }
        return switch (frame.type()) {
            case PASSWORD -> new PasswordMessage(frame.body());
            case QUERY -> {
                var r = new MessageReader(frame.body(), "Query");
                String sql = r.cstring();
                r.expectEnd();
                yield new Query(sql);
            }
            case TERMINATE -> {
                new MessageReader(frame.body(), "Terminate").expectEnd();
                yield new Terminate();
            }
            case COPY_FAIL -> {
                var r = new MessageReader(frame.body(), "CopyFail");
                String message = r.cstring();
                r.expectEnd();
                yield new CopyFail(message);
            }
            case COPY_DATA -> new CopyData(frame.body());
            case COPY_DONE -> {
                new MessageReader(frame.body(), "CopyDone").expectEnd();
                yield new CopyDone();
            }
            default -> throw new ProtocolException("invalid frontend message type "
                    + Frame.describeType(frame.type()));
        };
    }

    /**
     * The body's first int32 tells the packet kind. A protocol 3.x StartupMessage with minor > 0 is
     * decoded as 3.0: that is all we speak, and 3.0 is a subset of every 3.x, so carrying on is
     * safe for the client.
     */
    private static FrontendMessage decodeStartupPacket(byte[] body) {
        var r = new MessageReader(body, "startup packet");
        int code = r.int32();
        switch (code) {
            case SSL_REQUEST_CODE -> {
                r.expectEnd();
                return new SslRequest();
            }
            case GSSENC_REQUEST_CODE -> {
                r.expectEnd();
                return new GssEncRequest();
            }
            case CANCEL_REQUEST_CODE -> {
                int processId = r.int32();
                int secretKey = r.int32();
                r.expectEnd();
                return new CancelRequest(processId, secretKey);
            }
            default -> {
                int major = code >>> 16;
                int minor = code & 0xFFFF;
                if (major != 3) {
                    throw new ProtocolException(SqlState.FEATURE_NOT_SUPPORTED, "unsupported frontend protocol "
                            + major + "." + minor + ": server supports 3.0");
                }
                return new StartupMessage(FrontendMessage.PROTOCOL_3_0, readParameters(r));
            }
        }
    }

    /** Name/value cstring pairs ended by an empty name, which must be the packet's last byte. */
    private static Map<String, String> readParameters(MessageReader r) {
        Map<String, String> parameters = new LinkedHashMap<>();
        for (String name = r.cstring(); !name.isEmpty(); name = r.cstring()) {
            parameters.put(name, r.cstring());
        }
        r.expectEnd();
        return parameters;
    }

    /**
     * The complete wire bytes of {@code message}: type byte (none for startup packets), length
     * word, body.
     *
     * @throws IllegalArgumentException for a string containing NUL or an empty startup parameter
     *     name, which the receiver would misread
     */
    public static byte[] encode(FrontendMessage message) {
        if (message instanceof StartupMessage m) {
            MessageWriter w = MessageWriter.untyped().int32(m.protocolVersion());
            m.parameters().forEach((name, value) -> {
                if (name.isEmpty()) {
                    throw new IllegalArgumentException("empty startup parameter name");
                }
                w.cstring(name).cstring(value);
            });
            return w.int8(0).finish();
        } else if (message instanceof SslRequest) {
            return MessageWriter.untyped().int32(SSL_REQUEST_CODE).finish();
        } else if (message instanceof GssEncRequest) {
            return MessageWriter.untyped().int32(GSSENC_REQUEST_CODE).finish();
        } else if (message instanceof CancelRequest m) {
            return MessageWriter.untyped().int32(CANCEL_REQUEST_CODE).int32(m.processId()).int32(m.secretKey())
                    .finish();
        } else if (message instanceof PasswordMessage m) {
            return MessageWriter.typed(PASSWORD).bytes(m.body()).finish();
        } else if (message instanceof Query m) {
            return MessageWriter.typed(QUERY).cstring(m.sql()).finish();
        } else if (message instanceof Terminate) {
            return MessageWriter.typed(TERMINATE).finish();
        } else if (message instanceof CopyFail m) {
            return MessageWriter.typed(COPY_FAIL).cstring(m.message()).finish();
        } else if (message instanceof CopyData m) {
            return MessageWriter.typed(COPY_DATA).bytes(m.data()).finish();
        } else if (message instanceof CopyDone) {
            return MessageWriter.typed(COPY_DONE).finish();
        }
        // Java 17 has no exhaustive switch over a sealed type; a new permitted record lands here.
        throw new IllegalStateException("no encoding for " + message.getClass().getName());
    }
}
