package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class FrontendCodecTest {
    private static final HexFormat HEX = HexFormat.of();

    @Test
    void samplesCoverEveryFrontendMessage() {
        Set<Class<?>> covered = new HashSet<>();
        Samples.allFrontend().forEach(m -> covered.add(m.getClass()));
        assertEquals(Set.of(FrontendMessage.class.getPermittedSubclasses()), covered);
    }

    /** A whole client session, as the server's framer sees it, whole and byte by byte. */
    @ParameterizedTest
    @ValueSource(ints = {1, 3, 1 << 20})
    void sessionRoundTripsThroughTheServerFramer(int chunk) {
        List<FrontendMessage> session = new ArrayList<>(Samples.startupPhase());
        session.addAll(Samples.typedFrontend());
        List<byte[]> parts = session.stream().map(FrontendCodec::encode).toList();
        byte[] wire = Bytes.concat(parts.toArray(byte[][]::new));

        List<FrontendMessage> decoded = Samples.frames(FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), wire,
                chunk).stream().map(FrontendCodec::decode).toList();
        assertEquals(session, decoded);
    }

    @Test
    void everyMessageRoundTripsAlone() {
        for (FrontendMessage message : Samples.allFrontend()) {
            byte[] wire = FrontendCodec.encode(message);
            FrameDecoder decoder = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
            if (wire[0] != 0) {
                // Typed messages only follow a StartupMessage.
                decoder.feed(FrontendCodec.encode(Samples.STARTUP));
                assertTrue(decoder.next().untyped());
            }
            List<Frame> frames = Samples.frames(decoder, wire, 1);
            assertEquals(1, frames.size(), message.toString());
            assertEquals(message, FrontendCodec.decode(frames.get(0)));
        }
    }

    @Test
    void sslRequestBytesFromTheDocs() {
        byte[] wire = HEX.parseHex("0000000804d2162f");
        assertArrayEquals(wire, FrontendCodec.encode(new FrontendMessage.SslRequest()));
        assertEquals(new FrontendMessage.SslRequest(), FrontendCodec.decode(new Frame(Frame.UNTYPED, HEX.parseHex("04d2162f"))));
    }

    @Test
    void gssEncAndCancelRequestBytes() {
        assertArrayEquals(HEX.parseHex("0000000804d21630"), FrontendCodec.encode(new FrontendMessage.GssEncRequest()));
        assertArrayEquals(HEX.parseHex("0000001004d2162e0000303900000001"),
                FrontendCodec.encode(new FrontendMessage.CancelRequest(12345, 1)));
    }

    @Test
    void startupMessageBytes() {
        // length 44, protocol 3.0, "user\0postgres\0database\0replication\0", terminator.
        byte[] wire = HEX.parseHex("0000002c00030000" + "7573657200" + "706f73746772657300"
                + "646174616261736500" + "7265706c69636174696f6e00" + "00");
        Map<String, String> parameters = new LinkedHashMap<>();
        parameters.put("user", "postgres");
        parameters.put("database", "replication");
        var message = new FrontendMessage.StartupMessage(FrontendMessage.PROTOCOL_3_0, parameters);

        assertArrayEquals(wire, FrontendCodec.encode(message));
        FrameDecoder decoder = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        decoder.feed(wire);
        var decoded = (FrontendMessage.StartupMessage) FrontendCodec.decode(decoder.next());
        assertEquals(message, decoded);
        assertEquals(List.of("user", "database"), List.copyOf(decoded.parameters().keySet()));
    }

    @Test
    void queryAndTerminateBytes() {
        assertArrayEquals(HEX.parseHex("510000000d53454c4543542031" + "00"),
                FrontendCodec.encode(new FrontendMessage.Query("SELECT 1")));
        assertArrayEquals(HEX.parseHex("5800000004"), FrontendCodec.encode(new FrontendMessage.Terminate()));
    }

    @Test
    void laterMinorVersionsAreTreatedAs30() {
        var v32 = new FrontendMessage.StartupMessage(3 << 16 | 2, Map.of("user", "u"));
        byte[] wire = FrontendCodec.encode(v32);
        var decoded = (FrontendMessage.StartupMessage) FrontendCodec.decode(
                new Frame(Frame.UNTYPED, Arrays.copyOfRange(wire, 4, wire.length)));
        assertEquals(FrontendMessage.PROTOCOL_3_0, decoded.protocolVersion());
        assertEquals(Map.of("user", "u"), decoded.parameters());
    }

    @Test
    void otherMajorVersionsAreNotSupported() {
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> FrontendCodec.decode(new Frame(Frame.UNTYPED, HEX.parseHex("0002000000"))));
        assertEquals(SqlState.FEATURE_NOT_SUPPORTED, e.sqlState());
        assertEquals("unsupported frontend protocol 2.0: server supports 3.0", e.getMessage());

        e = assertThrows(ProtocolException.class,
                () -> FrontendCodec.decode(new Frame(Frame.UNTYPED, HEX.parseHex("0004000100"))));
        assertEquals("unsupported frontend protocol 4.1: server supports 3.0", e.getMessage());
    }

    @Test
    void startupParametersMustEndWithTheTerminatorAsLastByte() {
        // "user\0u\0" without the final empty name.
        assertViolation(new Frame(Frame.UNTYPED, HEX.parseHex("00030000" + "7573657200" + "7500")));
        // A name without a value.
        assertViolation(new Frame(Frame.UNTYPED, HEX.parseHex("00030000" + "7573657200" + "00")));
        // Bytes after the terminator.
        assertViolation(new Frame(Frame.UNTYPED, HEX.parseHex("00030000" + "00" + "41")));
        // SSLRequest with a body.
        assertViolation(new Frame(Frame.UNTYPED, HEX.parseHex("04d2162f00")));
        // CancelRequest without its secret.
        assertViolation(new Frame(Frame.UNTYPED, HEX.parseHex("04d2162e00000001")));
    }

    @Test
    void unknownTypeBytesAreNamed() {
        ProtocolException e = assertViolation(new Frame((byte) 'P', new byte[0]));
        assertTrue(e.getMessage().contains("'P'"), e.getMessage());
        e = assertViolation(new Frame((byte) 0x80, new byte[0]));
        assertTrue(e.getMessage().contains("0x80"), e.getMessage());
    }

    @Test
    void exactMessagesRefuseTrailingBytes() {
        assertViolation(new Frame((byte) 'X', new byte[] {0}));
        assertViolation(new Frame((byte) 'c', new byte[] {0}));
        assertViolation(new Frame((byte) 'Q', HEX.parseHex("410042")));
        assertViolation(new Frame((byte) 'Q', HEX.parseHex("41")));
        assertViolation(new Frame((byte) 'f', HEX.parseHex("")));
    }

    @Test
    void encodingRefusesWhatTheReceiverWouldMisread() {
        assertThrows(IllegalArgumentException.class, () -> FrontendCodec.encode(new FrontendMessage.Query("a\0b")));
        assertThrows(IllegalArgumentException.class, () -> FrontendCodec.encode(
                new FrontendMessage.StartupMessage(FrontendMessage.PROTOCOL_3_0, Map.of("", "x"))));
    }

    private static ProtocolException assertViolation(Frame frame) {
        ProtocolException e = assertThrows(ProtocolException.class, () -> FrontendCodec.decode(frame), frame.toString());
        assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState(), frame.toString());
        return e;
    }
}
