package dev.walkeeper.actors.socket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.SqlState;
import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The reader over a real loopback socket: framing across TCP writes, the consumption window as
 * backpressure on the socket, decoder switches, failures and the end of the connection.
 */
class SocketReaderTest {
    private static final ActorTestKit testKit = TestKits.create();
    /** Long enough for a message that should not come to have arrived, short enough to keep tests quick. */
    private static final Duration QUIET = Duration.ofMillis(300);
    private static final StartupMessage STARTUP =
            new StartupMessage(FrontendMessage.PROTOCOL_3_0, Map.of("user", "u", "replication", "true"));

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @Test
    void framesSplitAcrossWritesArriveDecodedInOrderThenPeerClosed() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 16));
            byte[] all = wire(STARTUP, new Query("IDENTIFY_SYSTEM"), new Query("SHOW x"), new Terminate());
            pair.send(Arrays.copyOfRange(all, 0, 2));
            pair.send(Arrays.copyOfRange(all, 2, 30));
            pair.send(Arrays.copyOfRange(all, 30, all.length));
            pair.peer.shutdownOutput();

            assertEquals(STARTUP, received(pair.events));
            assertEquals(new Query("IDENTIFY_SYSTEM"), received(pair.events));
            assertEquals(new Query("SHOW x"), received(pair.events));
            assertEquals(new Terminate(), received(pair.events));
            SocketReader.PeerClosed closed = assertInstanceOf(SocketReader.PeerClosed.class,
                    pair.events.receiveMessage());
            assertEquals("connection closed by peer", closed.reason());
            pair.events.expectTerminated(pair.reader);
            assertEquals(-1, pair.peer.getInputStream().read(), "the socket is closed");
        }
    }

    @Test
    void withWindowOneNothingMoreIsDeliveredUntilConsumed() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            int queries = 20;
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(wire(STARTUP));
            for (int i = 0; i < queries; i++) {
                out.writeBytes(wire(new Query("q" + i)));
            }
            pair.send(out.toByteArray());

            assertEquals(STARTUP, received(pair.events));
            pair.events.expectNoMessage(QUIET);
            for (int i = 0; i < queries; i++) {
                pair.reader.tell(SocketReader.Consumed.INSTANCE);
                assertEquals(new Query("q" + i), received(pair.events));
            }
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            pair.events.expectNoMessage(QUIET);
        }
    }

    @Test
    void aParentThatDoesNotConsumeStopsTheSocketBeingReadUntilItDoes() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            // The peer is a blocking java.net.Socket: write from a thread and watch its progress.
            byte[] frame = wire(new Query("x".repeat(64 * 1024)));
            long[] sent = {0};
            Thread writerThread = new Thread(() -> {
                try {
                    pair.send(wire(STARTUP));
                    while (sent[0] < 256L << 20) {
                        pair.send(frame);
                        synchronized (sent) {
                            sent[0] += frame.length;
                        }
                    }
                } catch (Exception e) {
                    // The socket is closed at the end of the test.
                }
            });
            writerThread.setDaemon(true);
            writerThread.start();

            assertEquals(STARTUP, received(pair.events));
            // The window (1) is full: the reader holds at most ~256 KiB more, the kernel's
            // buffers the rest; the peer's writes block long before 256 MiB.
            long before = sentSoFar(sent);
            pair.events.expectNoMessage(QUIET);
            long after = sentSoFar(sent);
            assertTrue(after < 64L << 20, "the peer wrote " + after + " bytes into an unread socket");
            pair.events.expectNoMessage(QUIET);
            assertEquals(after, sentSoFar(sent), "the peer still writes (was " + before + ")");

            // Consuming lets the reader go on, and the socket is read again.
            for (int i = 0; i < 1000 && sentSoFar(sent) <= after; i++) {
                pair.reader.tell(SocketReader.Consumed.INSTANCE);
                assertInstanceOf(Query.class, received(pair.events));
            }
            assertTrue(sentSoFar(sent) > after, "the peer writes again");
        }
    }

    @Test
    void switchDecoderAppliesFromTheNextFrameEvenIfItIsAlreadyBuffered() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.send(wire(STARTUP, new Query("a"), new Query("b")));

            assertEquals(STARTUP, received(pair.events));
            pair.events.expectNoMessage(QUIET); // the queries are with the reader, not decoded
            pair.reader.tell(new SocketReader.SwitchDecoder(RawFrame::new, 1));
            pair.reader.tell(SocketReader.Consumed.INSTANCE);

            RawFrame a = assertInstanceOf(RawFrame.class, received(pair.events));
            assertEquals('Q', a.type());
            assertArrayEquals(new byte[] {'a', 0}, a.body());
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            assertArrayEquals(new byte[] {'b', 0}, assertInstanceOf(RawFrame.class, received(pair.events)).body());
        }
    }

    @Test
    void switchDecoderWithALargerWindowDeliversUpToTheNewWindowAtOnce() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.send(wire(STARTUP, new Query("1"), new Query("2"), new Query("3"), new Query("4")));
            assertEquals(STARTUP, received(pair.events));

            pair.reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 3));
            assertEquals(new Query("1"), received(pair.events));
            assertEquals(new Query("2"), received(pair.events));
            pair.events.expectNoMessage(QUIET);
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            assertEquals(new Query("3"), received(pair.events));
            pair.events.expectNoMessage(QUIET);
        }
    }

    @Test
    void aFrameTheDecoderRejectsGivesOneReadFailedAndNothingAfterIt() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 16));
            pair.send(concat(wire(STARTUP), new byte[] {'Z', 0, 0, 0, 4}, wire(new Query("after"))));

            assertEquals(STARTUP, received(pair.events));
            SocketReader.ReadFailed failed = assertInstanceOf(SocketReader.ReadFailed.class,
                    pair.events.receiveMessage());
            assertEquals(SqlState.PROTOCOL_VIOLATION, failed.cause().sqlState());
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            pair.events.expectNoMessage(QUIET);
        }
    }

    @Test
    void aFrameTheFramerRejectsGivesReadFailedWithItsSqlState() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 16));
            pair.send(concat(wire(STARTUP), new byte[] {'d', 0x7f, 0, 0, 0}));

            assertEquals(STARTUP, received(pair.events));
            SocketReader.ReadFailed failed = assertInstanceOf(SocketReader.ReadFailed.class,
                    pair.events.receiveMessage());
            assertEquals(SqlState.PROGRAM_LIMIT_EXCEEDED, failed.cause().sqlState());
        }
    }

    @Test
    void framesReceivedBeforeThePeerClosedAreDeliveredBeforePeerClosed() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.send(wire(STARTUP, new Query("last words"), new Terminate()));
            pair.peer.shutdownOutput();

            assertEquals(STARTUP, received(pair.events));
            // The end of input is with the reader by now; nothing may pass the full window.
            pair.events.expectNoMessage(QUIET);
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            assertEquals(new Query("last words"), received(pair.events));
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            assertEquals(new Terminate(), received(pair.events));
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            assertInstanceOf(SocketReader.PeerClosed.class, pair.events.receiveMessage());
            pair.events.expectTerminated(pair.reader);
        }
    }

    @Test
    void aResetConnectionReportsPeerClosedWithTheCauseAndStopsBothHalves() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.peer.setSoLinger(true, 0); // close sends RST
            pair.peer.close();

            SocketReader.PeerClosed closed = assertInstanceOf(SocketReader.PeerClosed.class,
                    pair.events.receiveMessage());
            assertTrue(closed.reason().startsWith("connection failed"), closed.reason());
            pair.events.expectTerminated(pair.reader);
            pair.events.expectTerminated(pair.writer);
        }
    }

    /**
     * Megabytes of distinct frames as fast as the peer can write: the socket hands its pooled read
     * buffers to the reader and reuses them once framed (or copies a read out while all are with
     * the reader); every body arrives intact, none overwritten by a later read.
     */
    @Test
    void aFastStreamOfLargeFramesArrivesIntactThroughReusedReadBuffers() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 64));
            var random = new java.util.SplittableRandom(42);
            int frames = 120;
            byte[][] bodies = new byte[frames][];
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.writeBytes(wire(STARTUP));
            for (int i = 0; i < frames; i++) {
                bodies[i] = new byte[random.nextInt(1, 300_000)];
                random.nextBytes(bodies[i]);
                out.writeBytes(FrontendCodec.encode(new CopyData(bodies[i])));
            }
            Thread writerThread = new Thread(() -> {
                try {
                    pair.send(out.toByteArray());
                } catch (Exception e) {
                    // The test fails on the missing frames.
                }
            });
            writerThread.setDaemon(true);
            writerThread.start();

            assertEquals(STARTUP, received(pair.events));
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            for (int i = 0; i < frames; i++) {
                CopyData data = assertInstanceOf(CopyData.class, received(pair.events));
                assertArrayEquals(bodies[i], data.data(), "frame " + i);
                pair.reader.tell(SocketReader.Consumed.INSTANCE);
            }
        }
    }

    @Test
    void oneByteChunksAreReassembled() {
        // Without a socket: the chunks as the socket would hand them over, one byte each.
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = testKit.spawn(SocketReader.create(parent.ref(),
                FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), FrontendCodec::decode, 1));
        byte[] all = wire(STARTUP, new Query("IDENTIFY_SYSTEM"));
        for (byte b : all) {
            reader.tell(new SocketReader.Chunk(new byte[] {b}));
        }
        assertEquals(STARTUP, received(parent));
        reader.tell(SocketReader.Consumed.INSTANCE);
        assertEquals(new Query("IDENTIFY_SYSTEM"), received(parent));
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** What the switched-to decoder makes of a frame: its raw parts, so the test sees which decoder ran. */
    private record RawFrame(byte type, byte[] body) {
        RawFrame(Frame frame) {
            this(frame.type(), frame.body());
        }
    }

    private static long sentSoFar(long[] sent) {
        synchronized (sent) {
            return sent[0];
        }
    }

    static StartupMessage startup() {
        return STARTUP;
    }

    static Object received(TestProbe<SocketReader.Event> parent) {
        return assertInstanceOf(SocketReader.Received.class, parent.receiveMessage()).message();
    }

    static byte[] wire(FrontendMessage... messages) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (FrontendMessage m : messages) {
            out.writeBytes(FrontendCodec.encode(m));
        }
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Arrays.stream(parts).forEach(out::writeBytes);
        return out.toByteArray();
    }
}
