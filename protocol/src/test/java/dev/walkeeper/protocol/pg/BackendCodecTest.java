package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BackendCodecTest {
    private static final HexFormat HEX = HexFormat.of();

    @Test
    void samplesCoverEveryBackendMessage() {
        Set<Class<?>> covered = new HashSet<>();
        Samples.allBackend().forEach(m -> covered.add(m.getClass()));
        assertEquals(Set.of(BackendMessage.class.getPermittedSubclasses()), covered);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 5, 1 << 20})
    void everyMessageRoundTripsThroughTheClientFramer(int chunk) {
        List<BackendMessage> messages = Samples.allBackend();
        byte[] wire = Bytes.concat(messages.stream().map(BackendCodec::encode).toArray(byte[][]::new));
        List<BackendMessage> decoded = Samples.frames(FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE),
                wire, chunk).stream().map(BackendCodec::decode).toList();
        assertEquals(messages, decoded);
    }

    @Test
    void bytesFromTheDocs() {
        assertArrayEquals(HEX.parseHex("520000000800000000"), BackendCodec.encode(new BackendMessage.AuthenticationOk()));
        assertArrayEquals(HEX.parseHex("5a0000000549"), BackendCodec.encode(BackendMessage.ReadyForQuery.IDLE));
        assertArrayEquals(HEX.parseHex("5700000007000000"), BackendCodec.encode(BackendMessage.CopyBothResponse.REPLICATION));
        assertArrayEquals(HEX.parseHex("520000000c0000000501020304"),
                BackendCodec.encode(new BackendMessage.AuthenticationMd5Password(new byte[] {1, 2, 3, 4})));
        // AuthenticationSASL offering SCRAM-SHA-256: code 10, the name, an empty name.
        assertArrayEquals(HEX.parseHex("5200000017" + "0000000a" + "534352414d2d5348412d32353600" + "00"),
                BackendCodec.encode(new BackendMessage.AuthenticationSasl(List.of("SCRAM-SHA-256"))));
        // DataRow: 2 columns, "1" then NULL.
        assertArrayEquals(HEX.parseHex("440000000f" + "0002" + "0000000131" + "ffffffff"),
                BackendCodec.encode(BackendMessage.DataRow.ofText("1", null)));
        assertEquals(BackendMessage.ReadyForQuery.IDLE, BackendCodec.decode(new Frame((byte) 'Z', new byte[] {'I'})));
    }

    @Test
    void errorResponseFieldsInWireOrder() {
        byte[] wire = BackendCodec.encode(BackendMessage.ErrorResponse.error(SqlState.SYNTAX_ERROR, "bad"));
        assertArrayEquals(HEX.parseHex("450000001f" + "534552524f5200" + "564552524f5200" + "433432363031" + "00"
                + "4d62616400" + "00"), wire);
        var decoded = (BackendMessage.ErrorResponse) BackendCodec.decode(new Frame((byte) 'E',
                Arrays.copyOfRange(wire, 5, wire.length)));
        assertEquals("42601", decoded.code());
        assertEquals("bad", decoded.message());
        assertEquals("ERROR", decoded.severity());
    }

    @Test
    void sslRefusedIsTheSingleByteN() {
        assertEquals((byte) 'N', BackendCodec.SSL_REFUSED);
    }

    @Test
    void malformedBodiesAreProtocolViolations() {
        // Authentication without its code; MD5 with a 3-byte salt; SASL list without the empty name.
        assertViolation('R', "000000");
        assertViolation('R', "00000005010203");
        assertViolation('R', "0000000a41");
        assertViolation('R', "0000000000");
        // BackendKeyData short and long.
        assertViolation('K', "00000001");
        assertViolation('K', "000000010000000200");
        // ReadyForQuery with an unknown status, or two bytes.
        assertViolation('Z', "58");
        assertViolation('Z', "4949");
        // Negative column count; DataRow value longer than the body; length below -1.
        assertViolation('T', "ffff");
        assertViolation('D', "0001" + "00000005" + "41");
        assertViolation('D', "0001" + "fffffffe");
        // Error fields without the terminating 0 byte.
        assertViolation('E', "4d6f6f7073" + "00");
        assertViolation('W', "00" + "0001");
        assertViolation('I', "00");
    }

    @Test
    void unknownTypesAndUntypedFramesAreRefused() {
        ProtocolException e = assertViolation('Q', "");
        assertTrue(e.getMessage().contains("'Q'"), e.getMessage());
        assertEquals(SqlState.PROTOCOL_VIOLATION, assertThrows(ProtocolException.class,
                () -> BackendCodec.decode(new Frame(Frame.UNTYPED, HEX.parseHex("00030000")))).sqlState());
    }

    @Test
    void authenticationWeCannotAnswerIsNotSupported() {
        // 7: GSSAPI.
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> BackendCodec.decode(new Frame((byte) 'R', HEX.parseHex("00000007"))));
        assertEquals(SqlState.FEATURE_NOT_SUPPORTED, e.sqlState());
    }

    @Test
    void encodingRefusesWhatTheReceiverWouldMisread() {
        assertThrows(IllegalArgumentException.class,
                () -> BackendCodec.encode(new BackendMessage.ErrorResponse(Map.of((byte) 0, "x"))));
        assertThrows(IllegalArgumentException.class,
                () -> BackendCodec.encode(new BackendMessage.CommandComplete("a\0")));
        assertThrows(IllegalArgumentException.class,
                () -> BackendCodec.encode(new BackendMessage.AuthenticationSasl(List.of(""))));
        assertThrows(IllegalArgumentException.class,
                () -> BackendCodec.encode(new BackendMessage.DataRow(Collections.nCopies(40_000, null))));
    }

    private static ProtocolException assertViolation(char type, String bodyHex) {
        Frame frame = new Frame((byte) type, HEX.parseHex(bodyHex));
        ProtocolException e = assertThrows(ProtocolException.class, () -> BackendCodec.decode(frame),
                type + " " + bodyHex);
        assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState(), type + " " + bodyHex);
        return e;
    }
}
