package dev.walkeeper.actors.replication;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.TestSegments;
import dev.walkeeper.actors.WrittenBytes;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.persistence.wal.WalSegmentRemovedException;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.wal.XLogFileName;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The shared WAL send loop over a segment file on disk, with probes for the socket writer and the owner. */
class WalSenderTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final int SEG = 1 << 20;
    private static final Lsn SEG1 = new Lsn(SEG);
    private static final int PAGE = 8192;
    /** Quiet enough that no keepalive interferes, unless a test asks for one. */
    private static final Duration NO_KEEPALIVE = Duration.ofMinutes(10);

    @TempDir
    Path dir;
    private byte[] segment;
    private final TestProbe<SocketWriter.Command> writer = testKit.createTestProbe();
    private final TestProbe<WalSender.Event> owner = testKit.createTestProbe();

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @BeforeEach
    void writeSegment() throws Exception {
        segment = TestSegments.writeFirst(dir, SEG);
    }

    private ActorRef<WalSender.Command> spawn(Lsn start, Lsn limit, int maxBytesInFlight, Duration keepalive) {
        return testKit.spawn(WalSender.create(writer.getRef(), dir, SEG, start, limit,
                new WalSender.Settings(4 * PAGE, maxBytesInFlight, keepalive), owner.getRef()));
    }

    /** The next frame written, decoded: it must be one whole CopyData frame. */
    private SenderMessage nextFrame() {
        byte[] bytes = WrittenBytes.of(writer.expectMessageClass(SocketWriter.Command.class));
        assertEquals(bytes.length - 1, ByteBuffer.wrap(bytes, 1, 4).getInt(), "one whole frame");
        CopyData data = assertInstanceOf(CopyData.class,
                FrontendCodec.decode(new Frame(bytes[0], Arrays.copyOfRange(bytes, 5, bytes.length))));
        return ReplicationCodec.decodeSenderMessage(data.data());
    }

    /** An XLogData written and the marker written behind it. */
    private record Chunk(XLogData data, SocketWriter.NotifyWhenWritten marker) {}

    /** The next XLogData, which must start at {@code at} and carry {@code limit} as wal_end; its marker after it. */
    private XLogData nextChunk(Lsn at, Lsn limit) {
        return nextChunkAndMarker(at, limit).data();
    }

    private Chunk nextChunkAndMarker(Lsn at, Lsn limit) {
        XLogData data = nextUnmarkedChunk(at, limit);
        SocketWriter.NotifyWhenWritten marker = writer.expectMessageClass(SocketWriter.NotifyWhenWritten.class);
        assertEquals(data.dataEnd().value(), marker.token());
        return new Chunk(data, marker);
    }

    /** The next XLogData, as {@link #nextChunk}, with no marker behind it. */
    private XLogData nextUnmarkedChunk(Lsn at, Lsn limit) {
        XLogData data = assertInstanceOf(XLogData.class, nextFrame());
        assertEquals(at, data.walStart());
        assertEquals(limit, data.walEnd());
        int offset = at.segmentOffset(SEG);
        assertEquals(ByteSlice.of(segment, offset, data.wal().length()), data.wal());
        return data;
    }

    private static void taken(SocketWriter.NotifyWhenWritten marker) {
        marker.replyTo().tell(new SocketWriter.Written(marker.token()));
    }

    @Test
    void sendsUpToTheLimitOnlyAndFollowsANewOne() {
        Lsn limit = SEG1.plus(3 * PAGE + 100);
        ActorRef<WalSender.Command> sender = spawn(SEG1, limit, 1 << 20, NO_KEEPALIVE);
        // Chunks of at most 4 pages; the last one ends exactly at the limit, mid-page.
        assertEquals(3 * PAGE + 100, nextChunk(SEG1, limit).wal().length());
        writer.expectNoMessage(Duration.ofMillis(100));

        sender.tell(new WalSender.Serve(SEG1.plus(PAGE))); // lower: ignored
        writer.expectNoMessage(Duration.ofMillis(100));

        Lsn later = SEG1.plus(10 * PAGE);
        sender.tell(new WalSender.Serve(later));
        // From mid-page, the first chunk ends at a page boundary; the next ones are whole. Only the
        // chunk reaching the limit is marked: the others are far below a quarter of the 1 MiB window.
        XLogData first = nextUnmarkedChunk(limit, later);
        assertEquals(SEG1.plus(7 * PAGE), first.dataEnd());
        assertEquals(3 * PAGE, nextChunk(first.dataEnd(), later).wal().length());
        writer.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void keepsAtMostTheBytesInFlightItIsAllowedAndReportsWhatTheSocketTook() {
        Lsn limit = SEG1.plus(20 * PAGE);
        ActorRef<WalSender.Command> sender = spawn(SEG1, limit, 8 * PAGE, NO_KEEPALIVE);
        Chunk first = nextChunkAndMarker(SEG1, limit);
        // Two chunks of 4 pages fill the 8 pages allowed: nothing more until the socket takes one.
        XLogData second = nextChunk(SEG1.plus(4 * PAGE), limit);
        assertEquals(SEG1.plus(8 * PAGE), second.dataEnd());
        writer.expectNoMessage(Duration.ofMillis(200));

        taken(first.marker());
        assertEquals(new WalSender.Progress(sender, SEG1.plus(4 * PAGE)), owner.receiveMessage());
        nextChunk(SEG1.plus(8 * PAGE), limit);
        writer.expectNoMessage(Duration.ofMillis(200));
        sender.tell(new WalSender.Serve(limit)); // no news: still full
        writer.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void marksTheChunkThatCompletesAQuarterOfTheWindowAndTheOneAtTheLimit() {
        Lsn limit = SEG1.plus(20 * PAGE);
        // 32 pages in flight: a marker every 8 pages, i.e. behind every second chunk of 4.
        ActorRef<WalSender.Command> sender = spawn(SEG1, limit, 32 * PAGE, NO_KEEPALIVE);
        nextUnmarkedChunk(SEG1, limit);
        SocketWriter.NotifyWhenWritten second = nextChunkAndMarker(SEG1.plus(4 * PAGE), limit).marker();
        nextUnmarkedChunk(SEG1.plus(8 * PAGE), limit);
        nextChunkAndMarker(SEG1.plus(12 * PAGE), limit);
        SocketWriter.NotifyWhenWritten last = nextChunkAndMarker(SEG1.plus(16 * PAGE), limit).marker();
        assertEquals(limit.value(), last.token());
        writer.expectNoMessage(Duration.ofMillis(100));
        taken(second);
        assertEquals(new WalSender.Progress(sender, SEG1.plus(8 * PAGE)), owner.receiveMessage());
    }

    @Test
    void aFrameKeepsItsBytesUntilTheSocketTookItThoughBuffersAreReused() {
        Lsn limit = SEG1.plus(40 * PAGE);
        // Two whole chunks in flight: their buffers (three) are reused in turn through the run.
        ActorRef<WalSender.Command> sender = spawn(SEG1, limit, 8 * PAGE, NO_KEEPALIVE);
        ArrayDeque<Pending> pending = new ArrayDeque<>();
        Lsn at = SEG1;
        while (at.compareTo(limit) < 0 || !pending.isEmpty()) {
            if (at.compareTo(limit) < 0 && pending.size() < 2) {
                SocketWriter.WriteParts parts = writer.expectMessageClass(SocketWriter.WriteParts.class);
                byte[] bytes = WrittenBytes.of(parts);
                pending.add(new Pending(parts, bytes, writer.expectMessageClass(SocketWriter.NotifyWhenWritten.class)));
                XLogData data = assertInstanceOf(XLogData.class, ReplicationCodec.decodeSenderMessage(
                        Arrays.copyOfRange(bytes, 5, bytes.length)));
                int offset = at.segmentOffset(SEG);
                assertEquals(ByteSlice.of(segment, offset, data.wal().length()), data.wal());
                at = data.dataEnd();
                continue;
            }
            Pending oldest = pending.poll();
            // Still as written, though the sender read further chunks meanwhile.
            assertArrayEquals(oldest.bytes(), WrittenBytes.of(oldest.parts()));
            taken(oldest.marker());
            owner.expectMessageClass(WalSender.Progress.class);
        }
        writer.expectNoMessage(Duration.ofMillis(100));
        assertEquals(limit, at);
        testKit.stop(sender);
    }

    private record Pending(SocketWriter.WriteParts parts, byte[] bytes, SocketWriter.NotifyWhenWritten marker) {}

    @Test
    void aQuietStreamGetsKeepalivesOneAtATimeAndOnDemand() {
        Lsn limit = SEG1.plus(PAGE);
        ActorRef<WalSender.Command> sender = spawn(limit, limit, 1 << 20, Duration.ofMillis(100));
        PrimaryKeepalive keepalive = assertInstanceOf(PrimaryKeepalive.class, nextFrame());
        assertEquals(limit, keepalive.walEnd());
        assertTrue(keepalive.replyRequested());
        SocketWriter.NotifyWhenWritten marker = writer.expectMessageClass(SocketWriter.NotifyWhenWritten.class);
        // Not yet taken by the socket: no second one, on the timer or on demand.
        sender.tell(new WalSender.SendKeepalive(false));
        writer.expectNoMessage(Duration.ofMillis(300));
        taken(marker);
        sender.tell(new WalSender.SendKeepalive(false));
        assertTrue(!assertInstanceOf(PrimaryKeepalive.class, nextFrame()).replyRequested());
    }

    @Test
    void finishWritesTheEndBehindTheChunksAndStops() {
        Lsn limit = SEG1.plus(2 * PAGE);
        ActorRef<WalSender.Command> sender = spawn(SEG1, limit, 1 << 20, NO_KEEPALIVE);
        nextChunk(SEG1, limit);
        sender.tell(new WalSender.Finish(List.of(new SocketWriter.Write(new CopyDone()))));
        assertEquals(new CopyDone(), writer.expectMessageClass(SocketWriter.Write.class).message());
        writer.expectTerminated(sender);
    }

    @Test
    void aRemovedSegmentIsReportedAndTheSenderStops() throws Exception {
        Files.delete(dir.resolve(XLogFileName.of(1, 1, SEG)));
        ActorRef<WalSender.Command> sender = spawn(SEG1, SEG1.plus(PAGE), 1 << 20, NO_KEEPALIVE);
        WalSender.Failed failed = owner.expectMessageClass(WalSender.Failed.class);
        assertEquals(sender, failed.sender());
        assertEquals(SEG1, failed.at());
        assertInstanceOf(WalSegmentRemovedException.class, failed.cause());
        owner.expectTerminated(sender);
    }
}
