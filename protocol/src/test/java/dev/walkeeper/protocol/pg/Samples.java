package dev.walkeeper.protocol.pg;

import dev.walkeeper.protocol.pg.BackendMessage.RowDescription.Field;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** At least one instance of every message, with edge values (empty, zero bytes, negatives, NULL). */
final class Samples {
    private Samples() {}

    static final FrontendMessage.StartupMessage STARTUP = new FrontendMessage.StartupMessage(
            FrontendMessage.PROTOCOL_3_0, ordered("user", "walkeeper", "database", "replication",
                    "options", "-c timeline_id=de200bd42b49cc1814412c7e592dd6e9 tenant_id=9ef87a5bf0d92544f6fafeeb3239695c",
                    "application_name", "wälkeeper ✓"));

    /** Packets a client sends before the StartupMessage, then the StartupMessage itself. */
    static List<FrontendMessage> startupPhase() {
        return List.of(new FrontendMessage.SslRequest(), new FrontendMessage.GssEncRequest(), STARTUP);
    }

    static List<FrontendMessage> typedFrontend() {
        return List.of(
                FrontendMessage.PasswordMessage.cleartext("secret"),
                FrontendMessage.PasswordMessage.saslInitial("SCRAM-SHA-256", "n,,n=,r=abc".getBytes(StandardCharsets.UTF_8)),
                FrontendMessage.PasswordMessage.sasl(new byte[] {0, 1, 2, (byte) 0xFF}),
                new FrontendMessage.Query("START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')"),
                new FrontendMessage.Query(""),
                new FrontendMessage.Terminate(),
                new FrontendMessage.CopyFail("pusher shut down"),
                new CopyData(new byte[] {'w', 0, 0, 0, 0, 1, 0, 0, 0}),
                new CopyData(new byte[0]),
                new CopyDone());
    }

    static List<FrontendMessage> allFrontend() {
        List<FrontendMessage> all = new ArrayList<>(startupPhase());
        all.add(new FrontendMessage.StartupMessage(FrontendMessage.PROTOCOL_3_0, Map.of()));
        all.add(new FrontendMessage.CancelRequest(4242, -1));
        all.addAll(typedFrontend());
        return all;
    }

    static List<BackendMessage> allBackend() {
        return List.of(
                new BackendMessage.AuthenticationOk(),
                new BackendMessage.AuthenticationCleartextPassword(),
                new BackendMessage.AuthenticationMd5Password(new byte[] {1, 0, (byte) 0x80, (byte) 0xFF}),
                new BackendMessage.AuthenticationSasl(List.of("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")),
                new BackendMessage.AuthenticationSasl(List.of()),
                new BackendMessage.AuthenticationSaslContinue("r=abc,s=c2FsdA==,i=4096".getBytes(StandardCharsets.UTF_8)),
                new BackendMessage.AuthenticationSaslFinal(new byte[0]),
                new BackendMessage.ParameterStatus("server_version", "16.4"),
                new BackendMessage.ParameterStatus("", ""),
                new BackendMessage.BackendKeyData(12345, Integer.MIN_VALUE),
                BackendMessage.ReadyForQuery.IDLE,
                new BackendMessage.ReadyForQuery((byte) 'T'),
                new BackendMessage.ReadyForQuery((byte) 'E'),
                new BackendMessage.RowDescription(List.of(
                        Field.text("systemid", Field.TEXT_OID, -1),
                        Field.text("timeline", Field.INT4_OID, 4),
                        new Field("x", 16384, (short) 3, Field.INT8_OID, (short) 8, 42, (short) 1))),
                new BackendMessage.RowDescription(List.of()),
                new BackendMessage.DataRow(Arrays.asList("7300000000000000001".getBytes(StandardCharsets.UTF_8),
                        null, new byte[0], new byte[] {0})),
                new BackendMessage.DataRow(List.of()),
                new BackendMessage.CommandComplete("IDENTIFY_SYSTEM"),
                new BackendMessage.EmptyQueryResponse(),
                BackendMessage.ErrorResponse.error(SqlState.FEATURE_NOT_SUPPORTED, "BASE_BACKUP is not supported"),
                BackendMessage.ErrorResponse.of("FATAL", SqlState.PROTOCOL_VIOLATION, "invalid message", "detail"),
                new BackendMessage.ErrorResponse(Map.of()),
                BackendMessage.NoticeResponse.of("WARNING", SqlState.SUCCESSFUL_COMPLETION, "careful", null),
                BackendMessage.CopyBothResponse.REPLICATION,
                new BackendMessage.CopyBothResponse((byte) 1, List.of((short) 0, (short) 1)),
                new BackendMessage.CopyOutResponse((byte) 0, List.of((short) 0)),
                new CopyData(new byte[] {'k', 0, 0, 0, 0, 0, 0, 0, 1}),
                new CopyData(new byte[0]),
                new CopyDone());
    }

    private static Map<String, String> ordered(String... keysAndValues) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            map.put(keysAndValues[i], keysAndValues[i + 1]);
        }
        return map;
    }

    /** Feeds {@code wire} in chunks of {@code chunk} bytes and returns every frame. */
    static List<Frame> frames(FrameDecoder decoder, byte[] wire, int chunk) {
        List<Frame> frames = new ArrayList<>();
        for (int offset = 0; offset < wire.length; offset += chunk) {
            decoder.feed(Arrays.copyOfRange(wire, offset, Math.min(wire.length, offset + chunk)));
            for (Frame f = decoder.next(); f != null; f = decoder.next()) {
                frames.add(f);
            }
        }
        return frames;
    }
}
