package dev.walkeeper.actors.connection;

import static dev.walkeeper.actors.connection.ConnectionProbe.TIMELINE;
import static dev.walkeeper.actors.connection.ConnectionProbe.TIMELINE_OPTIONS;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.TestSegments;
import dev.walkeeper.actors.WrittenBytes;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import java.io.ByteArrayOutputStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** START_REPLICATION over a WAL segment on disk, with probes for the socket and the timeline. */
class PullReplicationRoleTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final int SEG = 1 << 20;
    private static final Lsn SEG1 = new Lsn(SEG);

    @TempDir
    Path dir;
    private byte[] segment;

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @BeforeEach
    void writeSegment() throws Exception {
        segment = TestSegments.writeFirst(dir, SEG);
    }

    private Timeline.Status status(Lsn flush, Lsn commit) {
        return new Timeline.Status(true, 2, 2, flush, commit, 99, SEG, dir);
    }

    /** A connection that asked for replication, and the timeline probe that answered with its status. */
    private record Requested(ConnectionProbe c, TestProbe<Timeline.Command> timeline) {}

    /** Logs in naming the timeline, asks {@code command} and answers the lookup with {@code status}. */
    private static Requested request(String command, Timeline.Status status) throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u", "application_name", "standby1",
                "replication", "true", "options", TIMELINE_OPTIONS);
        c.query(command);
        TestProbe<Timeline.Command> timeline = c.resolve(testKit, TIMELINE);
        timeline.expectMessageClass(Timeline.GetStatus.class).replyTo().tell(status);
        return new Requested(c, timeline);
    }

    /**
     * Collects XLogData from the writer up to {@code end}, acknowledging the markers behind them as
     * the writer would; the chunk that reaches {@code end} is always marked.
     */
    private static byte[] streamed(ConnectionProbe c, Lsn from, Lsn end) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Lsn at = from;
        long lastMarker = -1;
        while (at.compareTo(end) < 0 || lastMarker != end.value()) {
            SocketWriter.Command command = c.writer.expectMessageClass(SocketWriter.Command.class);
            if (command instanceof SocketWriter.NotifyWhenWritten notify) {
                notify.replyTo().tell(new SocketWriter.Written(notify.token()));
                lastMarker = notify.token();
                continue;
            }
            byte[] bytes = WrittenBytes.of(command);
            CopyData copy = assertInstanceOf(CopyData.class,
                    BackendCodec.decode(new Frame(bytes[0], Arrays.copyOfRange(bytes, 5, bytes.length))));
            XLogData data = assertInstanceOf(XLogData.class, ReplicationCodec.decodeSenderMessage(copy.data()));
            assertEquals(at, data.walStart());
            out.writeBytes(data.wal().toArray());
            at = at.plus(data.wal().length());
        }
        assertEquals(end, at);
        return out.toByteArray();
    }

    @Test
    void streamsWhatIsCommittedFollowsThePositionsAndReturnsToQueriesOnCopyDone() throws Exception {
        Lsn commit = SEG1.plus(3 * 8192);
        Requested requested = request("START_REPLICATION " + SEG1, status(SEG1.plus(300_000), commit));
        ConnectionProbe c = requested.c();
        TestProbe<Timeline.Command> timeline = requested.timeline();
        assertEquals(CopyBothResponse.REPLICATION, c.next());
        assertEquals(32, c.reader.expectMessageClass(SocketReader.SwitchDecoder.class).window());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        ActorRef<Timeline.PositionsEvent> positions =
                timeline.expectMessageClass(Timeline.WatchPositions.class).subscriber();
        Timeline.WalConsumer consumer = timeline.expectMessageClass(Timeline.ConsumerReport.class).consumer();
        assertEquals("pull", consumer.kind());
        assertTrue(consumer.address().startsWith("standby1 127.0.0.1:"), consumer.address());

        positions.tell(new Timeline.Positions(2, 2, SEG1.plus(300_000), commit));
        assertArrayEquals(Arrays.copyOf(segment, 3 * 8192), streamed(c, SEG1, commit));
        Lsn later = SEG1.plus(300_000);
        positions.tell(new Timeline.Positions(2, 2, later, later));
        assertArrayEquals(Arrays.copyOfRange(segment, 3 * 8192, 300_000), streamed(c, commit, later));

        // What the socket took reaches the connection from its sender, on its own time (a loaded
        // machine may need many reports): report until it is all there, for up to 10 s.
        Timeline.WalConsumer reported;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        do {
            c.send(new StandbyStatusUpdate(later, later, commit, 0, false));
            reported = timeline.expectMessageClass(Timeline.ConsumerReport.class).consumer();
            assertEquals(later, reported.flushLsn());
            assertEquals(commit, reported.applyLsn());
        } while (!reported.sentLsn().equals(later) && System.nanoTime() < deadline);
        assertEquals(later, reported.sentLsn());

        c.events.tell(new SocketReader.Received(new CopyDone()));
        assertEquals(new CopyDone(), c.next());
        assertEquals(new CommandComplete("START_STREAMING"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
        assertEquals(1, c.reader.expectMessageClass(SocketReader.SwitchDecoder.class).window());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        timeline.expectMessage(new Timeline.ConsumerGone(c.connection.path().name()));
        c.send(new Query("SHOW server_version"));
        c.next(RowDescription.class);
    }

    @Test
    void refusalsAreErrorsThatLeaveTheSessionInTheQueryLoop() throws Exception {
        ConnectionProbe ahead = request("START_REPLICATION " + SEG1.plus(8192), status(SEG1, SEG1)).c();
        assertTrue(ahead.expectQueryError(SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE).message().contains("ahead"));
        ahead.reader.expectMessage(SocketReader.Consumed.INSTANCE);

        ConnectionProbe removed = request("START_REPLICATION 0/0", status(SEG1, SEG1)).c();
        assertTrue(removed.expectQueryError(SqlState.UNDEFINED_FILE).message().contains("already been removed"));
        removed.reader.expectMessage(SocketReader.Consumed.INSTANCE);

        ConnectionProbe wrongTerm = request("START_REPLICATION " + SEG1 + " (term='5')", status(SEG1, SEG1)).c();
        wrongTerm.expectQueryError(SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE);
        wrongTerm.reader.expectMessage(SocketReader.Consumed.INSTANCE);
    }

    /** A stream started at SEG1: CopyBoth answered, the timeline watched and told of the consumer. */
    private record Started(ConnectionProbe c, TestProbe<Timeline.Command> timeline,
                           ActorRef<Timeline.PositionsEvent> positions) {}

    private Started startStreaming() throws Exception {
        Requested requested = request("START_REPLICATION " + SEG1, status(SEG1, SEG1));
        assertEquals(CopyBothResponse.REPLICATION, requested.c().next());
        ActorRef<Timeline.PositionsEvent> positions =
                requested.timeline().expectMessageClass(Timeline.WatchPositions.class).subscriber();
        requested.timeline().expectMessageClass(Timeline.ConsumerReport.class);
        return new Started(requested.c(), requested.timeline(), positions);
    }

    @Test
    void aClientThatGoesAwayIsForgottenByTheTimeline() throws Exception {
        Started started = startStreaming();
        ConnectionProbe c = started.c();
        TestProbe<Timeline.Command> timeline = started.timeline();
        c.events.tell(new SocketReader.PeerClosed("reset"));
        timeline.expectMessage(new Timeline.ConsumerGone(c.connection.path().name()));
        c.writer.expectTerminated(c.connection);
    }

    /** A timeline that restarts or turns unavailable interrupts its subscribers: the stream ends with an error. */
    @Test
    void anInterruptedTimelineEndsTheStreamWithAnError() throws Exception {
        Started started = startStreaming();
        ConnectionProbe c = started.c();
        TestProbe<Timeline.Command> timeline = started.timeline();

        started.positions().tell(new Timeline.Interrupted("timeline t restarts after an error; reconnect"));
        ErrorResponse error = c.next(ErrorResponse.class);
        assertEquals(SqlState.INTERNAL_ERROR.code(), error.code());
        assertTrue(error.message().contains("restarts"), error.message());
        timeline.expectMessage(new Timeline.ConsumerGone(c.connection.path().name()));
    }

    /** A peer recovering WAL of term 2 up to our flush LSN: the stream ends once our term moves on. */
    @Test
    void aTermStreamServesUpToTheFlushAndEndsWhenTheTermChanges() throws Exception {
        Lsn flush = SEG1.plus(2 * 8192);
        Requested requested = request("START_REPLICATION " + SEG1 + " (term='2')", status(flush, SEG1));
        ConnectionProbe c = requested.c();
        assertEquals(CopyBothResponse.REPLICATION, c.next());
        ActorRef<Timeline.PositionsEvent> positions =
                requested.timeline().expectMessageClass(Timeline.WatchPositions.class).subscriber();
        requested.timeline().expectMessageClass(Timeline.ConsumerReport.class);

        positions.tell(new Timeline.Positions(2, 2, flush, SEG1));
        assertArrayEquals(Arrays.copyOf(segment, 2 * 8192), streamed(c, SEG1, flush), "up to the flush, not the commit");

        // A vote for term 3: a new proposer may truncate what follows.
        positions.tell(new Timeline.Positions(3, 2, flush, SEG1));
        ErrorResponse error = c.next(ErrorResponse.class);
        assertEquals(SqlState.OBJECT_NOT_IN_PREREQUISITE_STATE.code(), error.code());
        assertTrue(error.message().contains("term changed"), error.message());
        requested.timeline().expectMessage(new Timeline.ConsumerGone(c.connection.path().name()));
    }
}
