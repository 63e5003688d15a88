package dev.walkeeper.actors.socket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.walkeeper.actors.TestKits;
import java.time.Duration;
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
 * {@link SocketWriter.NotifyWhenWritten}: answered only once the outbound stream took every byte
 * written before it — at once when it already has — so a sender can bound what waits in the writer.
 */
class SocketWriterNotifyTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final Duration WAIT = Duration.ofSeconds(10);

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @Test
    void answersOnceTheStreamTookWhatWasWrittenBefore() throws Exception {
        ActorRef<SocketWriter.Command> writer = testKit.spawn(SocketWriter.create());
        // Takes one chunk into its buffer, then one more each time the test pulls: a full socket.
        Pair<ActorRef<SocketWriter.Outbound>, SinkQueueWithCancel<ByteString>> running =
                SocketWriter.outboundSource(writer)
                        .toMat(Sink.<ByteString>queue().addAttributes(Attributes.inputBuffer(1, 1)), Keep.both())
                        .run(testKit.system());
        TestProbe<SocketWriter.Written> probe = testKit.createTestProbe();

        // Nothing written yet: answered at once, even before the stream is attached.
        writer.tell(new SocketWriter.NotifyWhenWritten(0, probe.getRef()));
        probe.expectMessage(WAIT, new SocketWriter.Written(0));

        writer.tell(new SocketWriter.WriteRaw(new byte[] {1}));
        writer.tell(new SocketWriter.NotifyWhenWritten(1, probe.getRef()));
        probe.expectNoMessage(Duration.ofMillis(100)); // not attached: nothing was taken
        writer.tell(new SocketWriter.Attached(running.first()));
        probe.expectMessage(WAIT, new SocketWriter.Written(1));

        writer.tell(new SocketWriter.WriteRaw(new byte[] {2}));
        writer.tell(new SocketWriter.NotifyWhenWritten(2, probe.getRef()));
        writer.tell(new SocketWriter.WriteRaw(new byte[] {3}));
        writer.tell(new SocketWriter.NotifyWhenWritten(3, probe.getRef()));
        // The stream's one-slot buffer holds chunk 1: chunk 2 waits in the source, 3 in the writer.
        probe.expectNoMessage(Duration.ofMillis(200));

        assertArrayEquals(new byte[] {1}, pull(running.second()));
        probe.expectMessage(WAIT, new SocketWriter.Written(2));
        probe.expectNoMessage(Duration.ofMillis(100));
        assertArrayEquals(new byte[] {2}, pull(running.second()));
        probe.expectMessage(WAIT, new SocketWriter.Written(3));
        assertArrayEquals(new byte[] {3}, pull(running.second()));

        writer.tell(new SocketWriter.NotifyWhenWritten(4, probe.getRef()));
        probe.expectMessage(WAIT, new SocketWriter.Written(4));
    }

    @Test
    void markersCoveringOneCoalescedChunkAreAnsweredTogetherInOrder() throws Exception {
        ActorRef<SocketWriter.Command> writer = testKit.spawn(SocketWriter.create());
        TestProbe<SocketWriter.Written> probe = testKit.createTestProbe();
        for (int i = 1; i <= 3; i++) {
            writer.tell(new SocketWriter.WriteRaw(new byte[] {(byte) i}));
            writer.tell(new SocketWriter.NotifyWhenWritten(i, probe.getRef()));
        }
        Pair<ActorRef<SocketWriter.Outbound>, SinkQueueWithCancel<ByteString>> running =
                SocketWriter.outboundSource(writer)
                        .toMat(Sink.<ByteString>queue().addAttributes(Attributes.inputBuffer(1, 1)), Keep.both())
                        .run(testKit.system());
        writer.tell(new SocketWriter.Attached(running.first()));
        for (int i = 1; i <= 3; i++) {
            probe.expectMessage(WAIT, new SocketWriter.Written(i));
        }
        assertArrayEquals(new byte[] {1, 2, 3}, pull(running.second()));
    }

    private static byte[] pull(SinkQueueWithCancel<ByteString> queue) throws Exception {
        return queue.pull().toCompletableFuture().get(10, TimeUnit.SECONDS).orElseThrow().toArray();
    }
}
