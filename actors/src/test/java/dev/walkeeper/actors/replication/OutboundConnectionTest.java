package dev.walkeeper.actors.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import dev.walkeeper.testkit.FreePort;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client role over real sockets, against {@link FakeDownstream}: the startup packet, each
 * authentication method, the START_PUSH_REPLICATION handshake up to {@code 'i'}, WAL out and
 * status updates in, the clean end, and every way it fails (refusal, wrong password, connection
 * refused, a mute server).
 */
class OutboundConnectionTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final Duration WAIT = Duration.ofSeconds(10);
    private static final int SEG = 1 << 20;
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final Lsn SEG1 = new Lsn(SEG);
    private static final TenantTimelineId TIMELINE =
            new TenantTimelineId("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");

    @TempDir
    Path root;
    private PushReceivers receivers;
    private FakeDownstream downstream;

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    @BeforeEach
    void setUp() {
        receivers = new PushReceivers(id -> root.resolve(id.timelineId()), Duration.ofSeconds(30));
    }

    @AfterEach
    void tearDown() throws IOException {
        if (downstream != null) {
            downstream.close();
        }
        receivers.close();
    }

    private static OutboundConnection.Settings settings(String password) {
        return new OutboundConnection.Settings("pusher", password, 7, TIMELINE, 7000000000000000001L, SEG, 150018,
                Duration.ofSeconds(5), Duration.ofSeconds(5));
    }

    private ActorRef<OutboundConnection.Command> connect(OutboundConnection.Settings settings, InetSocketAddress to,
                                                         TestProbe<OutboundConnection.Event> parent) {
        return testKit.spawn(OutboundConnection.create(settings, Lsn.parse("0/1234568"), parent.getRef(),
                ClientConnection.sockets(to, Duration.ofSeconds(5))));
    }

    private OutboundConnection.Pushing expectPushing(TestProbe<OutboundConnection.Event> parent) {
        OutboundConnection.Event event = parent.expectMessageClass(OutboundConnection.Event.class, WAIT);
        return assertInstanceOf(OutboundConnection.Pushing.class, event, event.toString());
    }

    @Test
    void trustedHandshakeSendsTheStartupPacketAndCommandOfTheSpec() throws IOException {
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        ActorRef<OutboundConnection.Command> connection = connect(settings(null), downstream.address(), parent);

        OutboundConnection.Pushing pushing = expectPushing(parent);
        assertEquals(connection, pushing.connection());
        assertEquals(Lsn.INVALID, pushing.startLsn());
        Map<String, String> startup = downstream.startups.get(0);
        assertEquals("pusher", startup.get("user"));
        assertEquals("true", startup.get("replication"));
        assertEquals("walkeeper_7", startup.get("application_name"));
        assertEquals("-c tenant_id=" + TIMELINE.tenantId() + " timeline_id=" + TIMELINE.timelineId(),
                startup.get("options"));
        assertEquals("START_PUSH_REPLICATION " + TIMELINE.tenantId() + " " + TIMELINE.timelineId()
                        + " 0/1234568 (system_id '7000000000000000001', wal_seg_size '1048576', pg_version '150018')",
                downstream.queries.get(0));
        assertTrue(receivers.pusherOf(TIMELINE).startsWith("walkeeper_7 from /127.0.0.1:"),
                receivers.pusherOf(TIMELINE));
        connection.tell(OutboundConnection.Finish.INSTANCE);
        parent.expectMessage(WAIT, new OutboundConnection.Finished(connection));
    }

    @Test
    void walGoesOutStatusUpdatesComeBackAndFinishEndsTheStreamCleanly() throws Exception {
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        ActorRef<OutboundConnection.Command> connection = connect(settings(null), downstream.address(), parent);
        ActorRef<SocketWriter.Command> writer = expectPushing(parent).writer();

        // The parent's sender writes whole CopyData frames on the connection's writer.
        byte[] wal = new WalGenerator(FORMAT, SEG1, 200).nextRecords(100_000);
        Lsn end = SEG1.plus(wal.length);
        TestProbe<SocketWriter.Written> written = testKit.createTestProbe();
        writer.tell(new SocketWriter.WriteRaw(FrontendCodec.encode(new CopyData(ReplicationCodec.encode(
                new XLogData(SEG1, end, 0, ByteSlice.of(wal)))))));
        writer.tell(new SocketWriter.NotifyWhenWritten(42, written.getRef()));
        written.expectMessage(WAIT, new SocketWriter.Written(42));
        StandbyStatusUpdate status = statusUpdate(parent);
        assertEquals(end, status.flushLsn());
        assertEquals(end, status.writeLsn());

        // A keepalive asking for a reply is answered with the same positions.
        writer.tell(new SocketWriter.WriteRaw(FrontendCodec.encode(new CopyData(ReplicationCodec.encode(
                new PrimaryKeepalive(end, 0, true))))));
        assertEquals(end, statusUpdate(parent).flushLsn());

        connection.tell(OutboundConnection.Finish.INSTANCE);
        parent.expectMessage(WAIT, new OutboundConnection.Finished(connection));
        parent.expectTerminated(connection, WAIT);
        assertEquals(1, downstream.copyDones.get());
        awaitCondition(() -> downstream.terminates.get() == 1 && downstream.openConnections() == 0);
        assertNull(receivers.pusherOf(TIMELINE));
        try (PushReceivers.Lease lease = receivers.acquire(TIMELINE, "check", SEG)) {
            assertEquals(end, lease.startLsn());
        }
    }

    private static StandbyStatusUpdate statusUpdate(TestProbe<OutboundConnection.Event> parent) {
        return assertInstanceOf(StandbyStatusUpdate.class,
                parent.expectMessageClass(OutboundConnection.Received.class, WAIT).message());
    }

    @Test
    void scramSha256Authenticates() throws IOException {
        downstream = new FakeDownstream(FakeDownstream.Auth.SCRAM, "pusher", "s3cr\u00e9t", receivers);
        TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        ActorRef<OutboundConnection.Command> connection = connect(settings("s3cr\u00e9t"), downstream.address(), parent);
        expectPushing(parent);
        connection.tell(OutboundConnection.Finish.INSTANCE);
        parent.expectMessage(WAIT, new OutboundConnection.Finished(connection));
    }

    @Test
    void aWrongScramPasswordFailsWith28P01() throws IOException {
        downstream = new FakeDownstream(FakeDownstream.Auth.SCRAM, "pusher", "right", receivers);
        TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        ActorRef<OutboundConnection.Command> connection = connect(settings("wrong"), downstream.address(), parent);
        OutboundConnection.Failed failed = parent.expectMessageClass(OutboundConnection.Failed.class, WAIT);
        assertEquals("28P01", failed.sqlState());
        assertTrue(failed.reason().contains("password authentication failed"), failed.reason());
        parent.expectTerminated(connection, WAIT);
    }

    @Test
    void cleartextAndMd5PasswordsAuthenticate() throws IOException {
        for (FakeDownstream.Auth auth : new FakeDownstream.Auth[] {FakeDownstream.Auth.PASSWORD,
                FakeDownstream.Auth.MD5}) {
            try (FakeDownstream server = new FakeDownstream(auth, "pusher", "pw", receivers)) {
                TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
                ActorRef<OutboundConnection.Command> connection = connect(settings("pw"), server.address(), parent);
                expectPushing(parent);
                connection.tell(OutboundConnection.Finish.INSTANCE);
                parent.expectMessage(WAIT, new OutboundConnection.Finished(connection));
            }
        }
    }

    @Test
    void aPasswordRequestWithoutAConfiguredPasswordFails() throws IOException {
        downstream = new FakeDownstream(FakeDownstream.Auth.SCRAM, "pusher", "pw", receivers);
        TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        connect(settings(null), downstream.address(), parent);
        OutboundConnection.Failed failed = parent.expectMessageClass(OutboundConnection.Failed.class, WAIT);
        assertNull(failed.sqlState());
        assertTrue(failed.reason().contains("no password is configured"), failed.reason());
    }

    @Test
    void aSecondPusherIsRefusedWith55006AndTheConnectionStops() throws Exception {
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        try (PushReceivers.Lease held = receivers.acquire(TIMELINE, "walkeeper_3", SEG)) {
            TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
            ActorRef<OutboundConnection.Command> connection = connect(settings(null), downstream.address(), parent);
            OutboundConnection.Failed failed = parent.expectMessageClass(OutboundConnection.Failed.class, WAIT);
            assertEquals("55006", failed.sqlState());
            assertTrue(failed.reason().contains("walkeeper_3"), failed.reason());
            parent.expectTerminated(connection, WAIT);
            // Stopping closed the socket: the downstream's connection ends too.
            awaitCondition(() -> downstream.openConnections() == 0);
            assertEquals("walkeeper_3", receivers.pusherOf(TIMELINE));
        }
    }

    @Test
    void aRefusedConnectionIsReportedAsFailed() throws IOException {
        InetSocketAddress nobody = new InetSocketAddress(InetAddress.getLoopbackAddress(), FreePort.find());
        TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        ActorRef<OutboundConnection.Command> connection = connect(settings(null), nobody, parent);
        OutboundConnection.Failed failed = parent.expectMessageClass(OutboundConnection.Failed.class, WAIT);
        assertNull(failed.sqlState());
        assertTrue(failed.reason().contains("connection failed"), failed.reason());
        parent.expectTerminated(connection, WAIT);
    }

    @Test
    void aServerThatNeverAnswersTimesTheHandshakeOut() throws IOException {
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        downstream.mute = true;
        TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        OutboundConnection.Settings quick = new OutboundConnection.Settings("pusher", null, 7, TIMELINE, 1, SEG,
                150018, Duration.ofMillis(300), Duration.ofSeconds(1));
        ActorRef<OutboundConnection.Command> connection = connect(quick, downstream.address(), parent);
        OutboundConnection.Failed failed = parent.expectMessageClass(OutboundConnection.Failed.class, WAIT);
        assertTrue(failed.reason().contains("no START_PUSH_REPLICATION handshake within PT0.3S"), failed.reason());
        parent.expectTerminated(connection, WAIT);
        awaitCondition(() -> downstream.openConnections() == 0);
    }

    @Test
    void theDownstreamClosingMidPushIsReportedAsFailed() throws IOException {
        downstream = new FakeDownstream(FakeDownstream.Auth.TRUST, "pusher", null, receivers);
        TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        ActorRef<OutboundConnection.Command> connection = connect(settings(null), downstream.address(), parent);
        expectPushing(parent);
        downstream.close();
        OutboundConnection.Failed failed = parent.expectMessageClass(OutboundConnection.Failed.class, WAIT);
        assertNull(failed.sqlState());
        assertTrue(failed.reason().contains("closed") || failed.reason().contains("failed"), failed.reason());
        parent.expectTerminated(connection, WAIT);
    }

    private static void awaitCondition(java.util.function.BooleanSupplier condition) {
        TestProbe<Object> probe = testKit.createTestProbe();
        probe.awaitAssert(WAIT, () -> {
            assertTrue(condition.getAsBoolean());
            return null;
        });
    }
}
