package dev.walkeeper.actors.socket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.SqlState;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The reader fed by a real stream through {@link SocketReader#inboundSink}: framing across chunk
 * boundaries, the consumption window as backpressure on the stream, decoder switches, failures
 * and the end of the stream.
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
    void framesSplitAcrossChunksAndPackedIntoOneChunkArriveDecodedInOrder() {
        Query first = new Query("IDENTIFY_SYSTEM");
        Query second = new Query("SHOW wal_segment_size");
        byte[] startup = FrontendCodec.encode(STARTUP);
        byte[] all = wire(STARTUP, first, second, new Terminate());
        // Chunk 1: half a length word; chunk 2: the rest of the startup packet and 2 bytes of the
        // first query; chunk 3: the rest of that query and two more whole frames.
        List<ByteString> chunks = List.of(
                slice(all, 0, 2), slice(all, 2, startup.length + 2), slice(all, startup.length + 2, all.length));
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 16);

        Source.from(chunks).runWith(SocketReader.inboundSink(reader), testKit.system());

        assertEquals(STARTUP, received(parent));
        assertEquals(first, received(parent));
        assertEquals(second, received(parent));
        assertEquals(new Terminate(), received(parent));
        assertInstanceOf(SocketReader.PeerClosed.class, parent.receiveMessage());
    }

    @Test
    void oneByteChunksAreReassembledWithWindowOne() {
        byte[] all = wire(STARTUP, new Query("IDENTIFY_SYSTEM"));
        List<ByteString> chunks = new ArrayList<>();
        for (int i = 0; i < all.length; i++) {
            chunks.add(slice(all, i, i + 1));
        }
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 1);

        Source.from(chunks).concat(Source.never()).runWith(SocketReader.inboundSink(reader), testKit.system());

        assertEquals(STARTUP, received(parent));
        reader.tell(SocketReader.Consumed.INSTANCE);
        assertEquals(new Query("IDENTIFY_SYSTEM"), received(parent));
    }

    @Test
    void withWindowOneNothingMoreIsDeliveredOrReadUntilConsumed() {
        int queries = 20;
        List<ByteString> chunks = new ArrayList<>();
        // The startup packet and the first query share a chunk: the reader must hold the query in
        // its framer (not ask for more bytes) until the startup is consumed.
        chunks.add(ByteString.fromArray(wire(STARTUP, new Query("q0"))));
        for (int i = 1; i < queries; i++) {
            chunks.add(ByteString.fromArray(wire(new Query("q" + i))));
        }
        AtomicInteger emitted = new AtomicInteger();
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 1);

        Source.from(chunks)
                .map(chunk -> {
                    emitted.incrementAndGet();
                    return chunk;
                })
                .runWith(SocketReader.inboundSink(reader), testKit.system());

        assertEquals(STARTUP, received(parent));
        parent.expectNoMessage(QUIET);
        // The sink may hold one chunk ahead of the reader's ack, never more: the socket is not
        // drained into memory while the parent is busy.
        assertTrue(emitted.get() <= 2, "chunks pulled from upstream while one message is unconsumed: " + emitted.get());

        for (int i = 0; i < queries; i++) {
            reader.tell(SocketReader.Consumed.INSTANCE);
            assertEquals(new Query("q" + i), received(parent));
            // Still one message in flight: upstream stays at most two chunks ahead of delivery.
            assertTrue(emitted.get() <= i + 2, "after q" + i + ": " + emitted.get() + " chunks pulled");
        }
        reader.tell(SocketReader.Consumed.INSTANCE);
        assertInstanceOf(SocketReader.PeerClosed.class, parent.receiveMessage());
        assertEquals(queries, emitted.get());
    }

    @Test
    void switchDecoderAppliesFromTheNextFrameEvenIfItIsAlreadyBuffered() {
        // All three frames arrive in one chunk, so the two queries are already in the framer when
        // the switch comes: they must not have been decoded ahead of time.
        byte[] all = wire(STARTUP, new Query("a"), new Query("b"));
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 1);
        Source.single(ByteString.fromArray(all)).concat(Source.never())
                .runWith(SocketReader.inboundSink(reader), testKit.system());

        assertEquals(STARTUP, received(parent));
        // As the contract says: switch while handling message N, then consume it.
        reader.tell(new SocketReader.SwitchDecoder(RawFrame::new, 1));
        reader.tell(SocketReader.Consumed.INSTANCE);

        RawFrame a = assertInstanceOf(RawFrame.class, received(parent));
        assertEquals('Q', a.type());
        assertArrayEquals(new byte[] {'a', 0}, a.body());
        reader.tell(SocketReader.Consumed.INSTANCE);
        RawFrame b = assertInstanceOf(RawFrame.class, received(parent));
        assertArrayEquals(new byte[] {'b', 0}, b.body());
    }

    @Test
    void switchDecoderWithALargerWindowDeliversUpToTheNewWindowAtOnce() {
        byte[] all = wire(STARTUP, new Query("1"), new Query("2"), new Query("3"), new Query("4"));
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 1);
        Source.single(ByteString.fromArray(all)).concat(Source.never())
                .runWith(SocketReader.inboundSink(reader), testKit.system());
        assertEquals(STARTUP, received(parent));

        // The startup is still unconsumed; a window of 3 allows two more messages right away.
        reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 3));
        assertEquals(new Query("1"), received(parent));
        assertEquals(new Query("2"), received(parent));
        parent.expectNoMessage(QUIET);

        reader.tell(SocketReader.Consumed.INSTANCE);
        assertEquals(new Query("3"), received(parent));
        parent.expectNoMessage(QUIET);
    }

    @Test
    void aFrameTheDecoderRejectsGivesOneReadFailedAndNothingAfterIt() {
        // 'Z' is well framed (length 4, empty body) but no frontend message: the framer moves on,
        // so only the reader's own bookkeeping keeps the valid query after it from being delivered.
        byte[] all = concat(wire(STARTUP), new byte[] {'Z', 0, 0, 0, 4}, wire(new Query("after")));
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 16);
        Source.single(ByteString.fromArray(all)).concat(Source.never())
                .runWith(SocketReader.inboundSink(reader), testKit.system());

        assertEquals(STARTUP, received(parent));
        SocketReader.ReadFailed failed = assertInstanceOf(SocketReader.ReadFailed.class, parent.receiveMessage());
        assertEquals(SqlState.PROTOCOL_VIOLATION, failed.cause().sqlState());
        assertTrue(failed.cause().getMessage().contains("invalid frontend message type"), failed.cause().getMessage());
        reader.tell(SocketReader.Consumed.INSTANCE);
        reader.tell(new SocketReader.SwitchDecoder(FrontendCodec::decode, 16));
        parent.expectNoMessage(QUIET);
    }

    @Test
    void aFrameTheFramerRejectsGivesReadFailedWithItsSqlState() {
        // A length word over the limit: 54000, decided from the header alone.
        byte[] all = concat(wire(STARTUP), new byte[] {'d', 0x7f, 0, 0, 0});
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 16);
        Source.single(ByteString.fromArray(all)).concat(Source.never())
                .runWith(SocketReader.inboundSink(reader), testKit.system());

        assertEquals(STARTUP, received(parent));
        SocketReader.ReadFailed failed = assertInstanceOf(SocketReader.ReadFailed.class, parent.receiveMessage());
        assertEquals(SqlState.PROGRAM_LIMIT_EXCEEDED, failed.cause().sqlState());
        reader.tell(SocketReader.Consumed.INSTANCE);
        parent.expectNoMessage(QUIET);
    }

    @Test
    void streamCompletionReportsPeerClosedAndStopsTheReader() {
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 1);
        Source.single(ByteString.fromArray(wire(STARTUP))).runWith(SocketReader.inboundSink(reader), testKit.system());

        assertEquals(STARTUP, received(parent));
        reader.tell(SocketReader.Consumed.INSTANCE);
        SocketReader.PeerClosed closed = assertInstanceOf(SocketReader.PeerClosed.class, parent.receiveMessage());
        assertEquals("connection closed by peer", closed.reason());
        parent.expectTerminated(reader);
    }

    @Test
    void streamFailureReportsPeerClosedWithTheCauseAndStopsTheReader() {
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 1);
        Source.<ByteString>failed(new IOException("Connection reset by peer"))
                .runWith(SocketReader.inboundSink(reader), testKit.system());

        SocketReader.PeerClosed closed = assertInstanceOf(SocketReader.PeerClosed.class, parent.receiveMessage());
        assertTrue(closed.reason().contains("Connection reset by peer"), closed.reason());
        parent.expectTerminated(reader);
    }

    @Test
    void framesReceivedBeforeThePeerClosedAreDeliveredBeforePeerClosed() {
        // Over TCP the end of input comes after the sink has handed its last chunk to the reader,
        // and the sink then reports completion at once, without waiting for the reader's ack. The
        // frames of that chunk the window still holds back must not be lost to the close.
        List<ByteString> chunks = List.of(ByteString.fromArray(wire(STARTUP)),
                ByteString.fromArray(wire(new Query("last words"), new Terminate())));
        TestProbe<SocketReader.Event> parent = testKit.createTestProbe(SocketReader.Event.class);
        ActorRef<SocketReader.Command> reader = spawnReader(parent, 1);
        CompletableFuture<Optional<ByteString>> endOfInput = Source.from(chunks)
                .concatMat(Source.<ByteString>maybe(), Keep.right())
                .toMat(SocketReader.inboundSink(reader), Keep.left())
                .run(testKit.system());

        assertEquals(STARTUP, received(parent));
        reader.tell(SocketReader.Consumed.INSTANCE);
        assertEquals(new Query("last words"), received(parent));
        // The last chunk is with the reader (its first frame arrived), so the sink's buffer is
        // empty when the peer closes now; Terminate is still in the reader's framer.
        endOfInput.complete(Optional.empty());
        // Time for the end of input to reach the reader: nothing may be reported while the
        // window is full, not even PeerClosed.
        parent.expectNoMessage(QUIET);
        reader.tell(SocketReader.Consumed.INSTANCE);
        assertEquals(new Terminate(), received(parent));
        reader.tell(SocketReader.Consumed.INSTANCE);
        assertInstanceOf(SocketReader.PeerClosed.class, parent.receiveMessage());
        parent.expectTerminated(reader);
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** What the switched-to decoder makes of a frame: its raw parts, so the test sees which decoder ran. */
    private record RawFrame(byte type, byte[] body) {
        RawFrame(Frame frame) {
            this(frame.type(), frame.body());
        }
    }

    private static ActorRef<SocketReader.Command> spawnReader(TestProbe<SocketReader.Event> parent, int window) {
        return testKit.spawn(SocketReader.create(parent.ref(),
                FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), FrontendCodec::decode, window));
    }

    private static Object received(TestProbe<SocketReader.Event> parent) {
        return assertInstanceOf(SocketReader.Received.class, parent.receiveMessage()).message();
    }

    private static byte[] wire(FrontendMessage... messages) {
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

    private static ByteString slice(byte[] bytes, int from, int to) {
        return ByteString.fromArray(Arrays.copyOfRange(bytes, from, to));
    }
}
