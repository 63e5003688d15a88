package dev.walkeeper.actors.socket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The writer over a real loopback socket: the peer receives exactly the encoded messages in
 * order, large bursts wait for the socket to become writable, NotifyWhenWritten answers when the
 * kernel took the bytes, Close flushes first, a closed socket stops the writer, and a peer that
 * reads nothing fails the socket once the writer's queue passes its bound.
 */
class SocketWriterTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final Duration QUIET = Duration.ofMillis(300);
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final List<BackendMessage> GREETING = List.of(new AuthenticationOk(),
            new ParameterStatus("server_version", "15.0"), ReadyForQuery.IDLE);

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @Test
    void writesThenCloseReachThePeerInOrderFollowedByTheEndOfTheStream() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            GREETING.forEach(m -> pair.writer.tell(new SocketWriter.Write(m)));
            pair.writer.tell(new SocketWriter.Close());

            assertArrayEquals(encoded(GREETING), pair.peer.getInputStream().readAllBytes());
            pair.events.expectTerminated(pair.writer);
        }
    }

    @Test
    void writeRawAndWritePartsPassThroughUnframedAndSharedBuffersAreNotConsumed() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            ByteBuffer shared = ByteBuffer.wrap(BackendCodec.encode(ReadyForQuery.IDLE));
            pair.writer.tell(new SocketWriter.WriteRaw(new byte[] {BackendCodec.SSL_REFUSED}));
            pair.writer.tell(new SocketWriter.Write(new AuthenticationOk()));
            pair.writer.tell(new SocketWriter.WriteParts(List.of(shared, shared)));
            pair.writer.tell(new SocketWriter.Close());

            byte[] idle = BackendCodec.encode(ReadyForQuery.IDLE);
            assertArrayEquals(concat(new byte[] {'N'}, BackendCodec.encode(new AuthenticationOk()), idle, idle),
                    pair.peer.getInputStream().readAllBytes());
            assertEquals(idle.length, shared.remaining(), "the caller's buffer is untouched");
        }
    }

    @Test
    void writesAfterCloseAreDropped() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.writer.tell(new SocketWriter.Write(new AuthenticationOk()));
            pair.writer.tell(new SocketWriter.Close());
            pair.writer.tell(new SocketWriter.Write(ReadyForQuery.IDLE));

            assertArrayEquals(BackendCodec.encode(new AuthenticationOk()), pair.peer.getInputStream().readAllBytes());
        }
    }

    @Test
    void payloadsLargerThanTheSocketBuffersWaitForWritabilityAndArriveWhole() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            List<BackendMessage> big = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                byte[] payload = new byte[3 * 1024 * 1024 + i];
                Arrays.fill(payload, (byte) i);
                big.add(new CopyData(payload));
                big.add(ReadyForQuery.IDLE);
            }
            TestProbe<SocketWriter.Written> written = testKit.createTestProbe();
            big.forEach(m -> pair.writer.tell(new SocketWriter.Write(m)));
            pair.writer.tell(new SocketWriter.NotifyWhenWritten(1, written.getRef()));

            // ~36 MiB cannot all be in the kernel while the peer reads nothing.
            written.expectNoMessage(QUIET);
            byte[] expected = encoded(big);
            assertArrayEquals(expected, pair.receive(expected.length));
            written.expectMessage(WAIT, new SocketWriter.Written(1));
        }
    }

    @Test
    void aPeerThatReadsNothingFailsTheSocketOnceTheQueueExceedsItsBound() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            byte[] mebibyte = new byte[1 << 20];
            // The kernel's buffers take a few MiB of it on loopback; 32 MiB more than the bound stay queued.
            long count = SocketWriter.MAX_QUEUED_BYTES / mebibyte.length + 32;
            for (long i = 0; i < count; i++) {
                pair.writer.tell(new SocketWriter.WriteRaw(mebibyte));
            }

            SocketReader.PeerClosed closed = assertInstanceOf(SocketReader.PeerClosed.class,
                    pair.events.receiveMessage(WAIT));
            assertTrue(closed.reason().contains("queued for a peer that does not read"), closed.reason());
            pair.events.expectTerminated(pair.writer);
        }
    }

    @Test
    void notifyWhenWrittenAnswersAtOnceWhenNothingIsPendingAndInOrderOtherwise() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            TestProbe<SocketWriter.Written> written = testKit.createTestProbe();
            pair.writer.tell(new SocketWriter.NotifyWhenWritten(0, written.getRef()));
            written.expectMessage(WAIT, new SocketWriter.Written(0));
            for (int i = 1; i <= 3; i++) {
                pair.writer.tell(new SocketWriter.WriteRaw(new byte[] {(byte) i}));
                pair.writer.tell(new SocketWriter.NotifyWhenWritten(i, written.getRef()));
            }
            for (int i = 1; i <= 3; i++) {
                written.expectMessage(WAIT, new SocketWriter.Written(i));
            }
            assertArrayEquals(new byte[] {1, 2, 3}, pair.receive(3));
        }
    }

    @Test
    void afterCloseTheReaderGoesOnUntilThePeerClosesItsSide() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.writer.tell(new SocketWriter.Write(ReadyForQuery.IDLE));
            pair.writer.tell(new SocketWriter.Close());
            assertArrayEquals(BackendCodec.encode(ReadyForQuery.IDLE), pair.peer.getInputStream().readAllBytes());
            pair.events.expectTerminated(pair.writer);

            // Half closed: what the peer still sends is read (a draining connection consumes it).
            pair.send(SocketReaderTest.wire(SocketReaderTest.startup(), new Query("late")));
            assertInstanceOf(SocketReader.Received.class, pair.events.receiveMessage());
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            assertEquals(new Query("late"), SocketReaderTest.received(pair.events));
            pair.peer.shutdownOutput();
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            assertInstanceOf(SocketReader.PeerClosed.class, pair.events.receiveMessage());
        }
    }

    @Test
    void aPeerThatClosesStopsTheWriter() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.peer.close();
            assertInstanceOf(SocketReader.PeerClosed.class, pair.events.receiveMessage());
            pair.events.expectTerminated(pair.writer);
        }
    }

    private static byte[] encoded(List<BackendMessage> messages) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        messages.forEach(m -> out.writeBytes(BackendCodec.encode(m)));
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Arrays.stream(parts).forEach(out::writeBytes);
        return out.toByteArray();
    }
}
