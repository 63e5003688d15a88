package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FrameDecoderTest {
    private static final HexFormat HEX = HexFormat.of();

    private static byte[] startup() {
        return FrontendCodec.encode(new FrontendMessage.StartupMessage(FrontendMessage.PROTOCOL_3_0,
                Map.of("user", "walkeeper")));
    }

    @Test
    void serverStaysInStartupPhaseAfterSslAndGssEncRequests() {
        FrameDecoder decoder = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        decoder.feed(FrontendCodec.encode(new FrontendMessage.SslRequest()));
        decoder.feed(FrontendCodec.encode(new FrontendMessage.GssEncRequest()));
        decoder.feed(startup());
        decoder.feed(FrontendCodec.encode(new FrontendMessage.Query("IDENTIFY_SYSTEM")));

        assertEquals(new FrontendMessage.SslRequest(), FrontendCodec.decode(decoder.next()));
        assertEquals(new FrontendMessage.GssEncRequest(), FrontendCodec.decode(decoder.next()));
        Frame startup = decoder.next();
        assertTrue(startup.untyped());
        assertEquals("walkeeper",
                ((FrontendMessage.StartupMessage) FrontendCodec.decode(startup)).parameters().get("user"));
        Frame query = decoder.next();
        assertEquals('Q', query.type());
        assertEquals(new FrontendMessage.Query("IDENTIFY_SYSTEM"), FrontendCodec.decode(query));
        assertNull(decoder.next());
        assertEquals(0, decoder.buffered());
    }

    @Test
    void serverReadsBytesAfterTheStartupMessageAsTypedEvenInTheSameChunk() {
        FrameDecoder decoder = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        // A typed Terminate right behind the startup packet would be an invalid startup length (
        // 'X' 00 00 00 = 1476395008) if the decoder had not switched.
        decoder.feed(Bytes.concat(startup(), FrontendCodec.encode(new FrontendMessage.Terminate())));
        assertTrue(decoder.next().untyped());
        assertEquals(new Frame((byte) 'X', new byte[0]), decoder.next());
    }

    @Test
    void cancelRequestKeepsTheStartupPhase() {
        FrameDecoder decoder = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        decoder.feed(FrontendCodec.encode(new FrontendMessage.CancelRequest(7, 8)));
        decoder.feed(FrontendCodec.encode(new FrontendMessage.SslRequest()));
        assertEquals(new FrontendMessage.CancelRequest(7, 8), FrontendCodec.decode(decoder.next()));
        assertEquals(new FrontendMessage.SslRequest(), FrontendCodec.decode(decoder.next()));
    }

    @Test
    void clientReadsTypedFramesFromTheStart() {
        FrameDecoder decoder = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        decoder.feed(HEX.parseHex("520000000800000000"));
        assertEquals(new Frame((byte) 'R', new byte[4]), decoder.next());
    }

    @Test
    void returnsNullUntilTheWholeFrameIsBuffered() {
        FrameDecoder decoder = FrameDecoder.forClient(100);
        byte[] wire = HEX.parseHex("430000000d53454c4543542031" + "00");
        for (int i = 0; i < wire.length - 1; i++) {
            decoder.feed(new byte[] {wire[i]});
            assertNull(decoder.next(), "after " + (i + 1) + " bytes");
            assertEquals(i + 1, decoder.buffered());
        }
        decoder.feed(new byte[] {wire[wire.length - 1]});
        assertEquals(new Frame((byte) 'C', Bytes.cstring("SELECT 1")), decoder.next());
        assertEquals(0, decoder.buffered());
    }

    @Test
    void feedCopiesTheChunkSoTheCallerMayReuseIt() {
        FrameDecoder decoder = FrameDecoder.forClient(100);
        byte[] chunk = HEX.parseHex("64000000060102");
        decoder.feed(chunk);
        Arrays.fill(chunk, (byte) 0);
        assertEquals(new Frame((byte) 'd', new byte[] {1, 2}), decoder.next());
    }

    @Test
    void oversizedLengthFailsOnTheHeaderAlone() {
        FrameDecoder decoder = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        decoder.feed(HEX.parseHex("647fffffff"));
        ProtocolException e = assertThrows(ProtocolException.class, decoder::next);
        assertEquals(SqlState.PROGRAM_LIMIT_EXCEEDED, e.sqlState());
        assertEquals(5, decoder.buffered());
        // The stream has lost sync: the decoder keeps refusing rather than reading on.
        assertThrows(ProtocolException.class, decoder::next);
    }

    @Test
    void limitIsTheLargestAcceptedLengthWord() {
        FrameDecoder atLimit = FrameDecoder.forClient(10);
        atLimit.feed(HEX.parseHex("640000000a010203040506"));
        assertEquals(new Frame((byte) 'd', new byte[] {1, 2, 3, 4, 5, 6}), atLimit.next());

        FrameDecoder overLimit = FrameDecoder.forClient(10);
        overLimit.feed(HEX.parseHex("640000000b"));
        assertEquals(SqlState.PROGRAM_LIMIT_EXCEEDED,
                assertThrows(ProtocolException.class, overLimit::next).sqlState());
    }

    @Test
    void negativeAndShortLengthsAreProtocolViolations() {
        for (String header : new String[] {"5180000000", "51ffffffff", "5100000000", "5100000003"}) {
            for (FrameDecoder decoder : new FrameDecoder[] {FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE),
                    afterStartup(FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE))}) {
                decoder.feed(HEX.parseHex(header));
                ProtocolException e = assertThrows(ProtocolException.class, decoder::next, header);
                assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState(), header);
            }
        }
    }

    @Test
    void lengthFourIsAnEmptyBody() {
        FrameDecoder decoder = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        decoder.feed(HEX.parseHex("6300000004"));
        assertEquals(new Frame((byte) 'c', new byte[0]), decoder.next());
    }

    @Test
    void typeByteZeroIsRefusedBecauseItWouldLookUntyped() {
        FrameDecoder decoder = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        decoder.feed(HEX.parseHex("0000000004"));
        assertEquals(SqlState.PROTOCOL_VIOLATION, assertThrows(ProtocolException.class, decoder::next).sqlState());
    }

    @Test
    void badStartupLengthsFailOnTheLengthWordAlone() {
        // Below 8 there is no room for the protocol code; above 10004 the body exceeds
        // MAX_STARTUP_PACKET_SIZE; 16030100 is how a TLS ClientHello starts.
        for (String header : new String[] {"00000007", "00000000", "ffffffff", "80000000", "00002715", "16030100"}) {
            FrameDecoder decoder = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
            decoder.feed(HEX.parseHex(header));
            ProtocolException e = assertThrows(ProtocolException.class, decoder::next, header);
            assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState(), header);
            assertEquals(4, decoder.buffered());
        }
    }

    @Test
    void largestStartupPacketIsAccepted() {
        FrameDecoder decoder = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        byte[] packet = new byte[4 + FrameDecoder.MAX_STARTUP_PACKET_SIZE];
        System.arraycopy(Bytes.int32(packet.length), 0, packet, 0, 4);
        System.arraycopy(Bytes.int32(FrontendMessage.PROTOCOL_3_0), 0, packet, 4, 4);
        decoder.feed(packet);
        assertEquals(FrameDecoder.MAX_STARTUP_PACKET_SIZE, decoder.next().body().length);
    }

    @Test
    void largeMessagesInSmallChunksBetweenSmallFramesDecodeIntact() {
        FrameDecoder decoder = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        byte[] big = new byte[3 * 1024 * 1024 + 17];
        for (int i = 0; i < big.length; i++) {
            big[i] = (byte) (i * 31 + 7);
        }
        byte[] small = BackendCodec.encode(new BackendMessage.CommandComplete("SHOW"));
        byte[] stream = Bytes.concat(small, BackendCodec.encode(new CopyData(big)), small,
                BackendCodec.encode(new CopyData(big)), small);
        int frames = 0;
        for (int offset = 0; offset < stream.length; offset += 4093) {
            decoder.feed(Arrays.copyOfRange(stream, offset, Math.min(stream.length, offset + 4093)));
            for (Frame f = decoder.next(); f != null; f = decoder.next()) {
                BackendMessage m = BackendCodec.decode(f);
                if (frames % 2 == 0) {
                    assertEquals(new BackendMessage.CommandComplete("SHOW"), m);
                } else {
                    assertArrayEquals(big, ((CopyData) m).data());
                }
                frames++;
            }
        }
        assertEquals(5, frames);
        assertEquals(0, decoder.buffered());
    }

    @Test
    void maxMessageSizeMustAllowTheLengthWord() {
        assertThrows(IllegalArgumentException.class, () -> FrameDecoder.forClient(3));
        FrameDecoder smallest = FrameDecoder.forClient(4);
        smallest.feed(HEX.parseHex("6300000004"));
        assertEquals(new Frame((byte) 'c', new byte[0]), smallest.next());
    }

    private static FrameDecoder afterStartup(FrameDecoder decoder) {
        decoder.feed(startup());
        assertTrue(decoder.next().untyped());
        return decoder;
    }
}
