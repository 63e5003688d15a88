package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

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

    static LongStream seeds() {
        return LongStream.range(0, 40);
    }

    /**
     * Random frames (empty, small, around and past the preallocation limit) fed in chunks cut at
     * random points, often mid-header, from arrays and direct buffers: every frame comes out once, in order, with exactly its
     * body, and {@code buffered()} counts precisely the bytes not yet handed out.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void framesSplitAtArbitraryChunkBoundariesComeOutExact(long seed) {
        var random = new SplittableRandom(seed);
        String failing = "seed " + seed;
        FrameDecoder decoder = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        List<Frame> sent = new ArrayList<>();
        List<byte[]> wire = new ArrayList<>();
        byte[] startup = startup();
        sent.add(new Frame(Frame.UNTYPED, Arrays.copyOfRange(startup, 4, startup.length)));
        wire.add(startup);
        int count = random.nextInt(1, 30);
        for (int i = 0; i < count; i++) {
            int size = switch (random.nextInt(6)) {
                case 0 -> 0;
                case 1 -> random.nextInt(1, 16);
                case 2 -> random.nextInt(16, 9000);
                case 3 -> FrameDecoder.PREALLOCATED_BODY_SIZE + random.nextInt(-2, 3);
                case 4 -> random.nextInt(128 * 1024, 140 * 1024);
                default -> random.nextInt(FrameDecoder.PREALLOCATED_BODY_SIZE, 3 * FrameDecoder.PREALLOCATED_BODY_SIZE);
            };
            byte[] body = new byte[size];
            random.nextBytes(body);
            byte type = (byte) random.nextInt(1, 256);
            sent.add(new Frame(type, body));
            byte[] frame = new byte[5 + size];
            frame[0] = type;
            System.arraycopy(Bytes.int32(4 + size), 0, frame, 1, 4);
            System.arraycopy(body, 0, frame, 5, size);
            wire.add(frame);
        }
        byte[] stream = Bytes.concat(wire.toArray(byte[][]::new));
        List<Frame> received = new ArrayList<>();
        long handedOut = 0;
        int offset = 0;
        while (offset < stream.length) {
            int n = Math.min(stream.length - offset,
                    random.nextBoolean() ? random.nextInt(1, 8) : random.nextInt(1, 200_000));
            if (random.nextBoolean()) {
                // From the middle of a larger array.
                byte[] chunk = new byte[n + 10];
                System.arraycopy(stream, offset, chunk, 3, n);
                decoder.feed(chunk, 3, n);
            } else {
                // From a direct buffer, as the socket reads, not starting at 0.
                ByteBuffer direct = ByteBuffer.allocateDirect(n + 5);
                direct.position(2);
                direct.put(stream, offset, n).flip().position(2);
                decoder.feed(direct);
                assertEquals(direct.limit(), direct.position(), failing);
            }
            offset += n;
            for (Frame f = decoder.next(); f != null; f = decoder.next()) {
                received.add(f);
                handedOut += (f.untyped() ? 4 : 5) + f.body().length;
            }
            assertEquals(offset - handedOut, decoder.buffered(), failing);
        }
        assertEquals(sent.size(), received.size(), failing);
        for (int i = 0; i < sent.size(); i++) {
            assertEquals(sent.get(i).type(), received.get(i).type(), failing + ", frame " + i);
            assertArrayEquals(sent.get(i).body(), received.get(i).body(), failing + ", frame " + i);
        }
        assertEquals(0, decoder.buffered(), failing);
    }

    /** A length word may lie: up front only the preallocation limit is spent, not the 16 MiB announced. */
    @Test
    void hugeDeclaredLengthDoesNotAllocateItUpFront() {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        FrameDecoder decoder = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        byte[] header = HEX.parseHex("64" + HEX.toHexDigits(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE) + "0102");
        long before = threads.getCurrentThreadAllocatedBytes();
        decoder.feed(header);
        long allocated = threads.getCurrentThreadAllocatedBytes() - before;
        assertNull(decoder.next());
        assertTrue(allocated < 2L * FrameDecoder.PREALLOCATED_BODY_SIZE, allocated + " bytes allocated");
        assertEquals(header.length, decoder.buffered());
    }

    @Test
    void anErrorComesAfterTheFramesCompleteBeforeIt() {
        FrameDecoder decoder = FrameDecoder.forClient(100);
        decoder.feed(HEX.parseHex("6400000006" + "0102" + "0000000004"));
        assertEquals(new Frame((byte) 'd', new byte[] {1, 2}), decoder.next());
        ProtocolException e = assertThrows(ProtocolException.class, decoder::next);
        assertEquals(SqlState.PROTOCOL_VIOLATION, e.sqlState());
        assertThrows(ProtocolException.class, decoder::next);
    }

    @Test
    void aBodyPastThePreallocationLimitEndsInAnArrayOfExactlyItsSize() {
        FrameDecoder decoder = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        byte[] body = new byte[FrameDecoder.PREALLOCATED_BODY_SIZE * 2 + 3];
        body[body.length - 1] = 9;
        byte[] wire = BackendCodec.encode(new CopyData(body));
        for (int offset = 0; offset < wire.length; offset += 100_000) {
            decoder.feed(Arrays.copyOfRange(wire, offset, Math.min(wire.length, offset + 100_000)));
        }
        assertArrayEquals(body, decoder.next().body());
    }

    private static FrameDecoder afterStartup(FrameDecoder decoder) {
        decoder.feed(startup());
        assertTrue(decoder.next().untyped());
        return decoder;
    }
}
