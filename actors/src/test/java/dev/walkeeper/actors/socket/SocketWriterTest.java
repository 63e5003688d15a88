package dev.walkeeper.actors.socket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.SinkQueueWithCancel;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The writer feeding a real stream through {@link SocketWriter#outboundSource}: what reaches the
 * stream is exactly the encoded messages in order, nothing is lost before the stream is attached,
 * and Close flushes, completes the stream and drops later writes.
 */
class SocketWriterTest {
    private static final ActorTestKit testKit = TestKits.create();

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static final List<BackendMessage> GREETING = List.of(new AuthenticationOk(),
            new ParameterStatus("server_version", "15.0"), ReadyForQuery.IDLE);

    @Test
    void writesThenCloseCompleteTheStreamWithTheEncodedMessagesInOrder() throws Exception {
        ActorRef<SocketWriter.Command> writer = testKit.spawn(SocketWriter.create());
        CompletionStage<List<ByteString>> chunks = attach(writer);

        GREETING.forEach(m -> writer.tell(new SocketWriter.Write(m)));
        writer.tell(new SocketWriter.Close());

        assertArrayEquals(encoded(GREETING), concat(await(chunks)));
        TestProbe<Object> watcher = testKit.createTestProbe();
        watcher.expectTerminated(writer);
    }

    @Test
    void writeRawBytesPassThroughUnframed() throws Exception {
        ActorRef<SocketWriter.Command> writer = testKit.spawn(SocketWriter.create());
        CompletionStage<List<ByteString>> chunks = attach(writer);

        writer.tell(new SocketWriter.WriteRaw(new byte[] {BackendCodec.SSL_REFUSED}));
        writer.tell(new SocketWriter.Write(new AuthenticationOk()));
        writer.tell(new SocketWriter.Close());

        byte[] expected = concatBytes(new byte[] {'N'}, BackendCodec.encode(new AuthenticationOk()));
        assertArrayEquals(expected, concat(await(chunks)));
    }

    @Test
    void messagesSentBeforeTheStreamIsAttachedAreSentAsOneChunk() throws Exception {
        ActorRef<SocketWriter.Command> writer = testKit.spawn(SocketWriter.create());
        // The connection may write (e.g. an SSL refusal) before the TCP stream is materialized.
        GREETING.forEach(m -> writer.tell(new SocketWriter.Write(m)));
        writer.tell(new SocketWriter.Close());

        List<ByteString> chunks = await(attach(writer));

        // Queued while there was no stream, so coalesced into a single socket write.
        assertEquals(1, chunks.size(), "chunks: " + chunks.size());
        assertArrayEquals(encoded(GREETING), concat(chunks));
    }

    @Test
    void writesAfterCloseAreDropped() throws Exception {
        ActorRef<SocketWriter.Command> writer = testKit.spawn(SocketWriter.create());
        // Not attached yet, so the writer is still alive (closing, not stopped) when the late
        // write arrives: it must not reach the socket after the connection decided to close.
        writer.tell(new SocketWriter.Write(new AuthenticationOk()));
        writer.tell(new SocketWriter.Close());
        writer.tell(new SocketWriter.Write(ReadyForQuery.IDLE));
        writer.tell(new SocketWriter.WriteRaw(new byte[] {'N'}));

        assertArrayEquals(BackendCodec.encode(new AuthenticationOk()), concat(await(attach(writer))));
    }

    @Test
    void coalescedChunksStayWithinTheChunkLimit() throws Exception {
        ActorRef<SocketWriter.Command> writer = testKit.spawn(SocketWriter.create());
        List<BackendMessage> big = new ArrayList<>();
        for (byte i = 0; i < 3; i++) {
            byte[] payload = new byte[100 * 1024];
            Arrays.fill(payload, i);
            big.add(new CopyData(payload));
        }
        big.forEach(m -> writer.tell(new SocketWriter.Write(m)));
        writer.tell(new SocketWriter.Close());

        List<ByteString> chunks = await(attach(writer));

        // Two 100 KiB messages fit under 256 KiB, the third does not.
        int one = BackendCodec.encode(big.get(0)).length;
        assertEquals(List.of(2 * one, one), chunks.stream().map(ByteString::size).toList());
        assertArrayEquals(encoded(big), concat(chunks));
    }

    @Test
    void aBurstIntoASlowStreamIsDeliveredCompleteAndInOrder() throws Exception {
        ActorRef<SocketWriter.Command> writer = testKit.spawn(SocketWriter.create());
        // A consumer that takes one chunk at a time, when the test pulls: like a socket whose
        // send buffer is full, so the writer has to wait for the stream's acks.
        Pair<ActorRef<SocketWriter.Outbound>, SinkQueueWithCancel<ByteString>> running =
                SocketWriter.outboundSource(writer)
                        .toMat(Sink.<ByteString>queue().addAttributes(Attributes.inputBuffer(1, 1)), Keep.both())
                        .run(testKit.system());
        writer.tell(new SocketWriter.Attached(running.first()));
        List<BackendMessage> burst = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            burst.add(new CopyData(("row " + i).getBytes(StandardCharsets.US_ASCII)));
        }

        burst.forEach(m -> writer.tell(new SocketWriter.Write(m)));
        writer.tell(new SocketWriter.Close());

        // The source fails the stream when offered a chunk before it acked the previous one, so
        // reaching the end of the stream with every byte in order shows the writer waited.
        List<ByteString> received = new ArrayList<>();
        Optional<ByteString> next;
        while ((next = running.second().pull().toCompletableFuture().get(10, TimeUnit.SECONDS)).isPresent()) {
            received.add(next.get());
        }
        assertArrayEquals(encoded(burst), concat(received));
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** Materializes the writer's outbound stream into a collecting sink and attaches it. */
    private static CompletionStage<List<ByteString>> attach(ActorRef<SocketWriter.Command> writer) {
        Pair<ActorRef<SocketWriter.Outbound>, CompletionStage<List<ByteString>>> running =
                SocketWriter.outboundSource(writer).toMat(Sink.seq(), Keep.both()).run(testKit.system());
        writer.tell(new SocketWriter.Attached(running.first()));
        return running.second();
    }

    /** The stream's elements once it completes; a stream that never completes fails the test. */
    private static List<ByteString> await(CompletionStage<List<ByteString>> chunks) throws Exception {
        return chunks.toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    private static byte[] encoded(List<BackendMessage> messages) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        messages.forEach(m -> out.writeBytes(BackendCodec.encode(m)));
        return out.toByteArray();
    }

    private static byte[] concat(List<ByteString> chunks) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        chunks.forEach(c -> out.writeBytes(c.toArray()));
        return out.toByteArray();
    }

    private static byte[] concatBytes(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Arrays.stream(parts).forEach(out::writeBytes);
        return out.toByteArray();
    }
}
