package dev.walkeeper.protocol.pg;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Messages a server (backend) sends. Decoded and encoded by {@link BackendCodec}. */
public sealed interface BackendMessage
        permits BackendMessage.AuthenticationOk, BackendMessage.AuthenticationCleartextPassword,
                BackendMessage.AuthenticationMd5Password, BackendMessage.AuthenticationSasl,
                BackendMessage.AuthenticationSaslContinue, BackendMessage.AuthenticationSaslFinal,
                BackendMessage.ParameterStatus, BackendMessage.BackendKeyData, BackendMessage.ReadyForQuery,
                BackendMessage.RowDescription, BackendMessage.DataRow, BackendMessage.CommandComplete,
                BackendMessage.EmptyQueryResponse, BackendMessage.ErrorResponse, BackendMessage.NoticeResponse,
                BackendMessage.CopyBothResponse, BackendMessage.CopyOutResponse, CopyData, CopyDone {

    record AuthenticationOk() implements BackendMessage {}

    record AuthenticationCleartextPassword() implements BackendMessage {}

    /** {@code salt} is exactly 4 bytes. */
    record AuthenticationMd5Password(byte[] salt) implements BackendMessage {
        public AuthenticationMd5Password {
            if (salt.length != 4) {
                throw new IllegalArgumentException("MD5 salt must be 4 bytes");
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof AuthenticationMd5Password m && Arrays.equals(m.salt, salt);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(salt);
        }
    }

    record AuthenticationSasl(List<String> mechanisms) implements BackendMessage {
        public AuthenticationSasl {
            mechanisms = List.copyOf(mechanisms);
        }
    }

    record AuthenticationSaslContinue(byte[] data) implements BackendMessage {
        @Override
        public boolean equals(Object o) {
            return o instanceof AuthenticationSaslContinue m && Arrays.equals(m.data, data);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(data);
        }
    }

    record AuthenticationSaslFinal(byte[] data) implements BackendMessage {
        @Override
        public boolean equals(Object o) {
            return o instanceof AuthenticationSaslFinal m && Arrays.equals(m.data, data);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(data);
        }
    }

    record ParameterStatus(String name, String value) implements BackendMessage {}

    record BackendKeyData(int processId, int secretKey) implements BackendMessage {}

    /** {@code status}: 'I' idle, 'T' in a transaction block, 'E' in a failed transaction block. */
    record ReadyForQuery(byte status) implements BackendMessage {
        public static final ReadyForQuery IDLE = new ReadyForQuery((byte) 'I');
    }

    record RowDescription(List<Field> fields) implements BackendMessage {
        public RowDescription {
            fields = List.copyOf(fields);
        }

        /** A text-format column of the given type, as PostgreSQL describes a command's result. */
        public record Field(String name, int tableOid, short columnAttribute, int typeOid, short typeSize,
                            int typeModifier, short formatCode) {
            public static final int TEXT_OID = 25;
            public static final int INT4_OID = 23;
            public static final int INT8_OID = 20;

            public static Field text(String name, int typeOid, int typeSize) {
                return new Field(name, 0, (short) 0, typeOid, (short) typeSize, -1, (short) 0);
            }
        }
    }

    /** One row; a {@code null} entry is SQL NULL. */
    record DataRow(List<byte[]> values) implements BackendMessage {
        public DataRow {
            values = Collections.unmodifiableList(new ArrayList<>(values));
        }

        public static DataRow ofText(String... values) {
            List<byte[]> out = new ArrayList<>();
            for (String v : values) {
                out.add(v == null ? null : v.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            }
            return new DataRow(out);
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof DataRow d) || d.values.size() != values.size()) {
                return false;
            }
            for (int i = 0; i < values.size(); i++) {
                if (!Arrays.equals(values.get(i), d.values.get(i))) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public int hashCode() {
            int h = 1;
            for (byte[] v : values) {
                h = 31 * h + Arrays.hashCode(v);
            }
            return h;
        }
    }

    record CommandComplete(String tag) implements BackendMessage {}

    record EmptyQueryResponse() implements BackendMessage {}

    /** Field codes of ErrorResponse / NoticeResponse, as in PostgreSQL's protocol docs. */
    final class Fields {
        public static final byte SEVERITY = 'S';
        /** Non-localized severity (PostgreSQL 9.6+). */
        public static final byte SEVERITY_V = 'V';
        public static final byte CODE = 'C';
        public static final byte MESSAGE = 'M';
        public static final byte DETAIL = 'D';
        public static final byte HINT = 'H';

        private Fields() {}

        static Map<Byte, String> of(String severity, SqlState state, String message, String detail) {
            Map<Byte, String> fields = new LinkedHashMap<>();
            fields.put(SEVERITY, severity);
            fields.put(SEVERITY_V, severity);
            fields.put(CODE, state.code());
            fields.put(MESSAGE, message);
            if (detail != null) {
                fields.put(DETAIL, detail);
            }
            return fields;
        }
    }

    /** Fields keyed by their one-byte code, in wire order. */
    record ErrorResponse(Map<Byte, String> fields) implements BackendMessage {
        public ErrorResponse {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }

        public static ErrorResponse error(SqlState state, String message) {
            return new ErrorResponse(Fields.of("ERROR", state, message, null));
        }

        public static ErrorResponse fatal(SqlState state, String message) {
            return new ErrorResponse(Fields.of("FATAL", state, message, null));
        }

        public static ErrorResponse of(String severity, SqlState state, String message, String detail) {
            return new ErrorResponse(Fields.of(severity, state, message, detail));
        }

        public String severity() {
            return fields.get(Fields.SEVERITY);
        }

        public String code() {
            return fields.get(Fields.CODE);
        }

        public String message() {
            return fields.get(Fields.MESSAGE);
        }

        public String detail() {
            return fields.get(Fields.DETAIL);
        }
    }

    record NoticeResponse(Map<Byte, String> fields) implements BackendMessage {
        public NoticeResponse {
            fields = Collections.unmodifiableMap(new LinkedHashMap<>(fields));
        }

        public static NoticeResponse of(String severity, SqlState state, String message, String detail) {
            return new NoticeResponse(Fields.of(severity, state, message, detail));
        }

        public String severity() {
            return fields.get(Fields.SEVERITY);
        }

        public String code() {
            return fields.get(Fields.CODE);
        }

        public String message() {
            return fields.get(Fields.MESSAGE);
        }
    }

    /** 'W'; replication uses overall format 0 and no columns. */
    record CopyBothResponse(byte overallFormat, List<Short> columnFormats) implements BackendMessage {
        public static final CopyBothResponse REPLICATION = new CopyBothResponse((byte) 0, List.of());

        public CopyBothResponse {
            columnFormats = List.copyOf(columnFormats);
        }
    }

    /** 'H'. */
    record CopyOutResponse(byte overallFormat, List<Short> columnFormats) implements BackendMessage {
        public CopyOutResponse {
            columnFormats = List.copyOf(columnFormats);
        }
    }
}
