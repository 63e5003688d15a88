package dev.walkeeper.protocol.pg;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;

/** Messages a client (frontend) sends. Decoded and encoded by {@link FrontendCodec}. */
public sealed interface FrontendMessage
        permits FrontendMessage.StartupMessage, FrontendMessage.SslRequest, FrontendMessage.GssEncRequest,
                FrontendMessage.CancelRequest, FrontendMessage.PasswordMessage, FrontendMessage.Query,
                FrontendMessage.Terminate, FrontendMessage.CopyFail, CopyData, CopyDone {

    /** Protocol 3.0 as a StartupMessage carries it. */
    int PROTOCOL_3_0 = 196608;

    /** Untyped startup packet; {@code parameters} keeps the client's order. */
    record StartupMessage(int protocolVersion, Map<String, String> parameters) implements FrontendMessage {
        public StartupMessage {
            parameters = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(parameters));
        }
    }

    record SslRequest() implements FrontendMessage {}

    record GssEncRequest() implements FrontendMessage {}

    record CancelRequest(int processId, int secretKey) implements FrontendMessage {}

    /**
     * 'p': PasswordMessage, SASLInitialResponse and SASLResponse share one type byte; which one it
     * is depends on the authentication exchange, so the body is kept raw and read with the
     * accessor the exchange calls for.
     */
    record PasswordMessage(byte[] body) implements FrontendMessage {
        public static PasswordMessage cleartext(String password) {
            return new PasswordMessage(Bytes.cstring(password));
        }

        public static PasswordMessage saslInitial(String mechanism, byte[] data) {
            return new PasswordMessage(Bytes.concat(Bytes.cstring(mechanism), Bytes.int32(data.length), data));
        }

        public static PasswordMessage sasl(byte[] data) {
            return new PasswordMessage(data.clone());
        }

        /** The body read as a PasswordMessage: one NUL-terminated string. */
        public String password() {
            var reader = new MessageReader(body, "PasswordMessage");
            String password = reader.cstring();
            reader.expectEnd();
            return password;
        }

        /** The body read as a SASLInitialResponse: mechanism, then an int32-prefixed payload (-1: none). */
        public SaslInitial saslInitial() {
            var reader = new MessageReader(body, "SASLInitialResponse");
            String mechanism = reader.cstring();
            int length = reader.int32();
            byte[] data = length == -1 ? new byte[0] : reader.bytes(length);
            reader.expectEnd();
            return new SaslInitial(mechanism, data);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof PasswordMessage p && Arrays.equals(p.body, body);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(body);
        }

        @Override
        public String toString() {
            return "PasswordMessage[" + body.length + " bytes]";
        }
    }

    record SaslInitial(String mechanism, byte[] data) {
        public String dataAsString() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    record Query(String sql) implements FrontendMessage {}

    record Terminate() implements FrontendMessage {}

    record CopyFail(String message) implements FrontendMessage {}
}
