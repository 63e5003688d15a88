package dev.walkeeper.actors.connection;

import static dev.walkeeper.actors.connection.ConnectionProbe.TIMELINE;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.replication.ReceiverMessage;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** START_PUSH_REPLICATION on a receiving node: writes, one flush per burst, the lease released at the end. */
class PushReceiverRoleTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final int SEG = 1 << 20;
    private static final Lsn SEG1 = new Lsn(SEG);
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final String COMMAND = "START_PUSH_REPLICATION " + TIMELINE.tenantId() + " "
            + TIMELINE.timelineId() + " 0/3000000 (system_id '7000000000000000001', wal_seg_size '" + SEG
            + "', pg_version '150018')";

    @TempDir
    Path root;
    private PushReceivers receivers;

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @BeforeEach
    void setUp() {
        receivers = new PushReceivers(id -> root.resolve(id.tenantId()).resolve(id.timelineId()),
                Duration.ofSeconds(30));
    }

    @AfterEach
    void tearDown() throws Exception {
        receivers.close();
    }

    private static ReceiverMessage decode(BackendMessage message) {
        return ReplicationCodec.decodeReceiverMessage(assertInstanceOf(CopyData.class, message).data());
    }

    /** A connection that started receiving; the pusher hears where to start. */
    private ConnectionProbe receiving() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, receivers, "user", "u", "application_name", "pusher");
        c.query(COMMAND);
        assertEquals(32, c.reader.expectMessageClass(SocketReader.SwitchDecoder.class).window());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        assertEquals(CopyBothResponse.REPLICATION, c.next());
        assertInstanceOf(StartPosition.class, decode(c.next()));
        return c;
    }

    @Test
    void pushedWalIsWrittenFlushedReportedAndTheStreamEndsBackInTheQueryLoop() throws Exception {
        ConnectionProbe c = receiving();
        WalGenerator generator = new WalGenerator(FORMAT, SEG1, 100);
        byte[] first = generator.nextRecords(40_000);
        byte[] second = generator.nextRecords(40_000);
        Lsn middle = SEG1.plus(first.length);
        Lsn end = middle.plus(second.length);
        c.send(new CopyData(ReplicationCodec.encode(new XLogData(SEG1, middle, 0, ByteSlice.of(first)))));
        c.send(new CopyData(ReplicationCodec.encode(new XLogData(middle, end, 0, ByteSlice.of(second)))));
        // One flush after the first write covers what arrived meanwhile; another follows if needed.
        Lsn flushed;
        do {
            flushed = assertInstanceOf(StandbyStatusUpdate.class, decode(c.next())).flushLsn();
        } while (flushed.compareTo(end) < 0);
        assertEquals(end, flushed);

        c.events.tell(new SocketReader.Received(new CopyDone()));
        assertEquals(new CopyDone(), c.next());
        assertEquals(new CommandComplete("START_PUSH_REPLICATION"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
        assertEquals(1, c.reader.expectMessageClass(SocketReader.SwitchDecoder.class).window());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);

        byte[] stored = Files.readAllBytes(root.resolve(TIMELINE.tenantId()).resolve(TIMELINE.timelineId())
                .resolve("000000010000000000000001.partial"));
        byte[] pushed = Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, pushed, first.length, second.length);
        assertArrayEquals(pushed, Arrays.copyOf(stored, pushed.length));

        // The lease was released: the next push of the timeline is accepted at once.
        c.query(COMMAND);
        c.reader.expectMessageClass(SocketReader.SwitchDecoder.class);
        assertEquals(CopyBothResponse.REPLICATION, c.next());
        assertEquals(new StartPosition(end), decode(c.next()));
    }

    @Test
    void aPusherThatGoesAwayReleasesTheTimelineForTheNext() throws Exception {
        ConnectionProbe gone = receiving();
        gone.events.tell(new SocketReader.PeerClosed("reset"));
        gone.writer.expectTerminated(gone.connection);
        receiving();
    }

    @Test
    void aQueryInsideTheStreamIsAProtocolViolation() throws Exception {
        ConnectionProbe c = receiving();
        c.send(new Query("IDENTIFY_SYSTEM"));
        c.expectFatal(SqlState.PROTOCOL_VIOLATION);
    }
}
