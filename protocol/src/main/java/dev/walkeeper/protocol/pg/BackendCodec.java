package dev.walkeeper.protocol.pg;

import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationCleartextPassword;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationMd5Password;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSasl;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslContinue;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslFinal;
import dev.walkeeper.protocol.pg.BackendMessage.BackendKeyData;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.CopyOutResponse;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.EmptyQueryResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.NoticeResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link BackendMessage} ⇄ wire bytes. The server encodes with it; walkeeper's own outgoing libpq
 * connections (push replication) decode with it, so both directions live here.
 */
public final class BackendCodec {
    /**
     * The whole answer to SSLRequest and GSSENCRequest: one byte 'N', no frame around it. The
     * client then sends its StartupMessage in the clear (or gives up, if it insists on encryption).
     */
    public static final byte SSL_REFUSED = 'N';

    private static final byte AUTHENTICATION = 'R';
    private static final byte PARAMETER_STATUS = 'S';
    private static final byte BACKEND_KEY_DATA = 'K';
    private static final byte READY_FOR_QUERY = 'Z';
    private static final byte ROW_DESCRIPTION = 'T';
    private static final byte DATA_ROW = 'D';
    private static final byte COMMAND_COMPLETE = 'C';
    private static final byte EMPTY_QUERY_RESPONSE = 'I';
    private static final byte ERROR_RESPONSE = 'E';
    private static final byte NOTICE_RESPONSE = 'N';
    private static final byte COPY_BOTH_RESPONSE = 'W';
    private static final byte COPY_OUT_RESPONSE = 'H';
    private static final byte COPY_DATA = 'd';
    private static final byte COPY_DONE = 'c';

    private static final int AUTH_OK = 0;
    private static final int AUTH_CLEARTEXT_PASSWORD = 3;
    private static final int AUTH_MD5_PASSWORD = 5;
    private static final int AUTH_SASL = 10;
    private static final int AUTH_SASL_CONTINUE = 11;
    private static final int AUTH_SASL_FINAL = 12;

    private BackendCodec() {}

    /**
     * Decodes one frame from {@link FrameDecoder#forClient}.
     *
     * @throws ProtocolException {@link SqlState#PROTOCOL_VIOLATION} for an unknown type byte, an
     *     untyped frame or a malformed body; {@link SqlState#FEATURE_NOT_SUPPORTED} for an
     *     authentication request we cannot answer (Kerberos, GSSAPI, SSPI)
     */
    public static BackendMessage decode(Frame frame) {
        byte[] body = frame.body();
        return switch (frame.type()) {
            case AUTHENTICATION -> decodeAuthentication(body);
            case PARAMETER_STATUS -> {
                var r = new MessageReader(body, "ParameterStatus");
                var m = new ParameterStatus(r.cstring(), r.cstring());
                r.expectEnd();
                yield m;
            }
            case BACKEND_KEY_DATA -> {
                var r = new MessageReader(body, "BackendKeyData");
                var m = new BackendKeyData(r.int32(), r.int32());
                r.expectEnd();
                yield m;
            }
            case READY_FOR_QUERY -> {
                var r = new MessageReader(body, "ReadyForQuery");
                byte status = r.int8();
                r.expectEnd();
                if (status != 'I' && status != 'T' && status != 'E') {
                    throw new ProtocolException("ReadyForQuery: invalid transaction status "
                            + Frame.describeType(status));
                }
                yield new ReadyForQuery(status);
            }
            case ROW_DESCRIPTION -> decodeRowDescription(body);
            case DATA_ROW -> decodeDataRow(body);
            case COMMAND_COMPLETE -> {
                var r = new MessageReader(body, "CommandComplete");
                String tag = r.cstring();
                r.expectEnd();
                yield new CommandComplete(tag);
            }
            case EMPTY_QUERY_RESPONSE -> {
                new MessageReader(body, "EmptyQueryResponse").expectEnd();
                yield new EmptyQueryResponse();
            }
            case ERROR_RESPONSE -> new ErrorResponse(decodeFields(body, "ErrorResponse"));
            case NOTICE_RESPONSE -> new NoticeResponse(decodeFields(body, "NoticeResponse"));
            case COPY_BOTH_RESPONSE -> {
                var r = new MessageReader(body, "CopyBothResponse");
                yield new CopyBothResponse(r.int8(), decodeColumnFormats(r));
            }
            case COPY_OUT_RESPONSE -> {
                var r = new MessageReader(body, "CopyOutResponse");
                yield new CopyOutResponse(r.int8(), decodeColumnFormats(r));
            }
            case COPY_DATA -> new CopyData(body);
            case COPY_DONE -> {
                new MessageReader(body, "CopyDone").expectEnd();
                yield new CopyDone();
            }
            default -> throw new ProtocolException(frame.untyped() ? "unexpected untyped packet from server"
                    : "invalid backend message type " + Frame.describeType(frame.type()));
        };
    }

    private static BackendMessage decodeAuthentication(byte[] body) {
        var r = new MessageReader(body, "Authentication");
        int code = r.int32();
        BackendMessage m = switch (code) {
            case AUTH_OK -> new AuthenticationOk();
            case AUTH_CLEARTEXT_PASSWORD -> new AuthenticationCleartextPassword();
            case AUTH_MD5_PASSWORD -> new AuthenticationMd5Password(r.bytes(4));
            case AUTH_SASL -> {
                List<String> mechanisms = new ArrayList<>();
                for (String name = r.cstring(); !name.isEmpty(); name = r.cstring()) {
                    mechanisms.add(name);
                }
                yield new AuthenticationSasl(mechanisms);
            }
            case AUTH_SASL_CONTINUE -> new AuthenticationSaslContinue(r.rest());
            case AUTH_SASL_FINAL -> new AuthenticationSaslFinal(r.rest());
            default -> throw new ProtocolException(SqlState.FEATURE_NOT_SUPPORTED,
                    "unsupported authentication request " + code);
        };
        r.expectEnd();
        return m;
    }

    private static RowDescription decodeRowDescription(byte[] body) {
        var r = new MessageReader(body, "RowDescription");
        int count = readCount(r, "RowDescription");
        List<RowDescription.Field> fields = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            fields.add(new RowDescription.Field(r.cstring(), r.int32(), r.int16(), r.int32(), r.int16(),
                    r.int32(), r.int16()));
        }
        r.expectEnd();
        return new RowDescription(fields);
    }

    /** Each value is an int32 length then that many bytes; length -1 is SQL NULL. */
    private static DataRow decodeDataRow(byte[] body) {
        var r = new MessageReader(body, "DataRow");
        int count = readCount(r, "DataRow");
        List<byte[]> values = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int length = r.int32();
            values.add(length == -1 ? null : r.bytes(length));
        }
        r.expectEnd();
        return new DataRow(values);
    }

    /** Column counts are int16 on the wire; a negative one is not a count. */
    private static int readCount(MessageReader r, String what) {
        int count = r.int16();
        if (count < 0) {
            throw new ProtocolException(what + ": negative column count " + count);
        }
        return count;
    }

    private static List<Short> decodeColumnFormats(MessageReader r) {
        int count = readCount(r, "column formats");
        List<Short> formats = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            formats.add(r.int16());
        }
        r.expectEnd();
        return formats;
    }

    /** ErrorResponse/NoticeResponse body: (code byte, cstring) pairs ended by a 0 byte. */
    private static Map<Byte, String> decodeFields(byte[] body, String what) {
        var r = new MessageReader(body, what);
        Map<Byte, String> fields = new LinkedHashMap<>();
        for (byte code = r.int8(); code != 0; code = r.int8()) {
            fields.put(code, r.cstring());
        }
        r.expectEnd();
        return fields;
    }

    /**
     * The complete wire bytes of {@code message}: type byte, length word, body.
     *
     * @throws IllegalArgumentException for a string containing NUL, an error field code 0, or a
     *     count that does not fit the int16 on the wire — all of which the receiver would misread
     */
    public static byte[] encode(BackendMessage message) {
        if (message instanceof AuthenticationOk) {
            return auth(AUTH_OK).finish();
        } else if (message instanceof AuthenticationCleartextPassword) {
            return auth(AUTH_CLEARTEXT_PASSWORD).finish();
        } else if (message instanceof AuthenticationMd5Password m) {
            return auth(AUTH_MD5_PASSWORD).bytes(m.salt()).finish();
        } else if (message instanceof AuthenticationSasl m) {
            MessageWriter w = auth(AUTH_SASL);
            for (String mechanism : m.mechanisms()) {
                if (mechanism.isEmpty()) {
                    throw new IllegalArgumentException("empty SASL mechanism name");
                }
                w.cstring(mechanism);
            }
            return w.int8(0).finish();
        } else if (message instanceof AuthenticationSaslContinue m) {
            return auth(AUTH_SASL_CONTINUE).bytes(m.data()).finish();
        } else if (message instanceof AuthenticationSaslFinal m) {
            return auth(AUTH_SASL_FINAL).bytes(m.data()).finish();
        } else if (message instanceof ParameterStatus m) {
            return MessageWriter.typed(PARAMETER_STATUS).cstring(m.name()).cstring(m.value()).finish();
        } else if (message instanceof BackendKeyData m) {
            return MessageWriter.typed(BACKEND_KEY_DATA).int32(m.processId()).int32(m.secretKey()).finish();
        } else if (message instanceof ReadyForQuery m) {
            return MessageWriter.typed(READY_FOR_QUERY).int8(m.status()).finish();
        } else if (message instanceof RowDescription m) {
            MessageWriter w = MessageWriter.typed(ROW_DESCRIPTION).int16(count(m.fields().size()));
            for (RowDescription.Field f : m.fields()) {
                w.cstring(f.name()).int32(f.tableOid()).int16(f.columnAttribute()).int32(f.typeOid())
                        .int16(f.typeSize()).int32(f.typeModifier()).int16(f.formatCode());
            }
            return w.finish();
        } else if (message instanceof DataRow m) {
            MessageWriter w = MessageWriter.typed(DATA_ROW).int16(count(m.values().size()));
            for (byte[] value : m.values()) {
                if (value == null) {
                    w.int32(-1);
                } else {
                    w.int32(value.length).bytes(value);
                }
            }
            return w.finish();
        } else if (message instanceof CommandComplete m) {
            return MessageWriter.typed(COMMAND_COMPLETE).cstring(m.tag()).finish();
        } else if (message instanceof EmptyQueryResponse) {
            return MessageWriter.typed(EMPTY_QUERY_RESPONSE).finish();
        } else if (message instanceof ErrorResponse m) {
            return encodeFields(ERROR_RESPONSE, m.fields());
        } else if (message instanceof NoticeResponse m) {
            return encodeFields(NOTICE_RESPONSE, m.fields());
        } else if (message instanceof CopyBothResponse m) {
            return encodeCopyResponse(COPY_BOTH_RESPONSE, m.overallFormat(), m.columnFormats());
        } else if (message instanceof CopyOutResponse m) {
            return encodeCopyResponse(COPY_OUT_RESPONSE, m.overallFormat(), m.columnFormats());
        } else if (message instanceof CopyData m) {
            return MessageWriter.typed(COPY_DATA).bytes(m.data()).finish();
        } else if (message instanceof CopyDone) {
            return MessageWriter.typed(COPY_DONE).finish();
        }
        // Java 17 has no exhaustive switch over a sealed type; a new permitted record lands here.
        throw new IllegalStateException("no encoding for " + message.getClass().getName());
    }

    private static MessageWriter auth(int code) {
        return MessageWriter.typed(AUTHENTICATION).int32(code);
    }

    private static int count(int size) {
        if (size > Short.MAX_VALUE) {
            throw new IllegalArgumentException(size + " columns do not fit an int16 count");
        }
        return size;
    }

    private static byte[] encodeFields(byte type, Map<Byte, String> fields) {
        MessageWriter w = MessageWriter.typed(type);
        fields.forEach((code, value) -> {
            if (code == 0) {
                throw new IllegalArgumentException("field code 0 would end the field list");
            }
            w.int8(code).cstring(value);
        });
        return w.int8(0).finish();
    }

    private static byte[] encodeCopyResponse(byte type, byte overallFormat, List<Short> columnFormats) {
        MessageWriter w = MessageWriter.typed(type).int8(overallFormat).int16(count(columnFormats.size()));
        columnFormats.forEach(w::int16);
        return w.finish();
    }
}
