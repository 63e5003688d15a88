package dev.walkeeper.actors.socket;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;

import com.typesafe.config.ConfigFactory;
import dev.walkeeper.actors.TestKits;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import java.time.Duration;
import java.util.Arrays;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The default dispatcher on {@link IoLoopExecutor}, as the node configures it: actors and their sockets share a loop. */
class IoLoopExecutorTest {
    private static final ActorTestKit testKit = TestKits.create(ConfigFactory.parseString("""
            pekko.actor.default-dispatcher {
              executor = "dev.walkeeper.actors.socket.IoLoopExecutor"
              loops = 2
              throughput = 32
            }
            """));

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @Test
    void actorsRunOnALoopAndAttachTheirSocketsToIt() {
        TestProbe<Object> probe = testKit.createTestProbe();
        testKit.spawn(Behaviors.setup(ctx -> {
            IoLoop loop = IoLoop.current();
            probe.ref().tell(loop == null ? "no loop" : loop);
            probe.ref().tell(SocketIo.get(ctx.getSystem()).loop());
            return Behaviors.empty();
        }));
        IoLoop loop = assertInstanceOf(IoLoop.class, probe.receiveMessage());
        assertSame(loop, probe.receiveMessage());
    }

    @Test
    void aSocketPairServesBothDirectionsOnTheLoops() throws Exception {
        try (SocketPair pair = SocketPair.open(testKit)) {
            pair.send(SocketReaderTest.wire(SocketReaderTest.startup(), new Query("over the loop")));
            assertEquals(SocketReaderTest.startup(), SocketReaderTest.received(pair.events));
            pair.reader.tell(SocketReader.Consumed.INSTANCE);
            assertEquals(new Query("over the loop"), SocketReaderTest.received(pair.events));

            byte[] payload = new byte[8 << 20];
            Arrays.fill(payload, (byte) 7);
            pair.writer.tell(new SocketWriter.Write(new CopyData(payload)));
            byte[] expected = BackendCodec.encode(new CopyData(payload));
            assertArrayEquals(expected, pair.receive(expected.length));
            pair.writer.tell(new SocketWriter.Close());
            assertEquals(-1, pair.peer.getInputStream().read());
            pair.events.expectTerminated(pair.writer, Duration.ofSeconds(10));
        }
    }
}
