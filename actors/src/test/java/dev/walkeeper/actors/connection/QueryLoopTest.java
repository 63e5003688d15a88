package dev.walkeeper.actors.connection;

import static dev.walkeeper.actors.connection.ConnectionProbe.TIMELINE;
import static dev.walkeeper.actors.connection.ConnectionProbe.TIMELINE_OPTIONS;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.recovery.TimelineCopy;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.safekeeper.TimelineSnapshot;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The simple-query loop's commands that ask the timeline, with probes for the registry and timeline. */
class QueryLoopTest {
    private static final ActorTestKit testKit = TestKits.create();

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static Timeline.Status status(boolean exists) {
        return new Timeline.Status(exists, 4, 3, Lsn.parse("0/3000000"), Lsn.parse("0/2FFFF00"), 99, 16 << 20,
                Path.of("unused"));
    }

    private static void answerStatus(TestProbe<Timeline.Command> timeline, Timeline.Status status) {
        timeline.expectMessageClass(Timeline.GetStatus.class).replyTo().tell(status);
    }

    @Test
    void timelineConsumersListsPullConsumersThenEachPushReplicator() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u", "options", TIMELINE_OPTIONS);
        c.query("TIMELINE_CONSUMERS");
        TestProbe<Timeline.Command> timeline = c.resolve(testKit, TIMELINE);
        answerStatus(timeline, status(true));
        TestProbe<PushReplicator.Command> pusher = testKit.createTestProbe(PushReplicator.Command.class);
        timeline.expectMessageClass(Timeline.GetConsumers.class).replyTo().tell(new Timeline.Consumers(
                List.of(new Timeline.WalConsumer("c1", "pull", "standby 127.0.0.1:5", Lsn.parse("0/2000000"),
                        Lsn.parse("0/1000000"), Lsn.parse("0/1000000"))),
                List.of(pusher.ref()), Lsn.parse("0/2FFFF00")));
        c.reader.expectNoMessage(java.time.Duration.ofMillis(50));
        pusher.expectMessageClass(PushReplicator.GetStatus.class).replyTo().tell(new PushReplicator.Status(
                new InetSocketAddress("127.0.0.1", 7000), true, Lsn.parse("0/2FFFF00"), Lsn.parse("0/2FFFF00"),
                Lsn.parse("0/2F00000"), 0xFFF00, 1, null));
        assertEquals(7, c.next(RowDescription.class).fields().size());
        assertEquals(DataRow.ofText("pull", "c1", "standby 127.0.0.1:5", "0/2000000", "0/1000000", "0/1000000",
                Long.toString(0x1FFFF00)), c.next());
        assertEquals(DataRow.ofText("push", "connected 1", "127.0.0.1:7000", "0/2FFFF00", "0/2F00000", "0/2F00000",
                Long.toString(0xFFF00)), c.next());
        expectDone(c, "TIMELINE_CONSUMERS");
    }

    @Test
    void identifySystemTellsRecoveryClientsTheFlushLsn() throws Exception {
        assertEquals(DataRow.ofText("99", "1", "0/3000000", null), identifySystem(status(true),
                "user", "u", "application_name", "safekeeper-2", "options", TIMELINE_OPTIONS));
    }

    @Test
    void identifySystemOfATimelineNotCreatedYetReportsTheNodesSystemIdAndNoPosition() throws Exception {
        assertEquals(DataRow.ofText(Long.toUnsignedString(ConnectionProbe.SYSTEM_ID), "1", "0/0", "db"),
                identifySystem(status(false),
                        "user", "u", "replication", "database", "database", "db", "options", TIMELINE_OPTIONS));
    }

    /**
     * IDENTIFY_SYSTEM on a connection logged in with {@code startupParams}, the timeline answering
     * {@code status}: the row it answers with.
     */
    private static DataRow identifySystem(Timeline.Status status, String... startupParams) throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, startupParams);
        c.query("IDENTIFY_SYSTEM");
        answerStatus(c.resolve(testKit, TIMELINE), status);
        c.next(RowDescription.class);
        DataRow row = c.next(DataRow.class);
        expectDone(c, "IDENTIFY_SYSTEM");
        return row;
    }

    /** The end of a command that asked the timeline: its tag, ReadyForQuery, and the reader released. */
    private static void expectDone(ConnectionProbe c, String tag) {
        assertEquals(new CommandComplete(tag), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
    }

    @Test
    void aMessageWhileACommandIsAnsweredIsAProtocolViolation() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u", "options", TIMELINE_OPTIONS);
        c.query("TIMELINE_STATUS");
        c.resolve(testKit, TIMELINE);
        // The reader is held: only a broken reader could deliver this.
        c.events.tell(new SocketReader.Received(new Query("SHOW server_version")));
        assertTrue(c.expectFatal(SqlState.PROTOCOL_VIOLATION).message().contains("busy"));
    }

    @Test
    void pushReplicationIsRefusedByANodeThatDoesNotReceive() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u");
        c.send(new Query("START_PUSH_REPLICATION " + TIMELINE.tenantId() + " " + TIMELINE.timelineId()
                + " 0/3000000 (system_id '1', wal_seg_size '16777216', pg_version '150018')"));
        assertTrue(c.expectQueryError(SqlState.FEATURE_NOT_SUPPORTED).message().contains("walkeeper receive"));
        c.send(new Query("TIMELINE_CONSUMERS"));
        c.expectQueryError(SqlState.INVALID_PARAMETER_VALUE);
    }

    @Test
    void timelineStateAnswersTheSnapshotRowOrNoRow() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u", "options", TIMELINE_OPTIONS);
        TimelineSnapshot snapshot = new TimelineSnapshot(TIMELINE, 150018, 42, 16 << 20, MembershipConfiguration.EMPTY,
                3, new TermHistory(List.of(new TermSwitch(3, Lsn.parse("0/1000028")))), Lsn.parse("0/1000028"),
                Lsn.parse("0/1000028"), Lsn.parse("0/3000000"), Lsn.parse("0/2000000"), Lsn.INVALID);
        c.query("TIMELINE_STATE");
        c.resolve(testKit, TIMELINE).expectMessageClass(Timeline.GetSnapshot.class).replyTo()
                .tell(new Timeline.SnapshotReply(snapshot));
        assertEquals(TimelineSnapshot.COLUMNS, c.next(RowDescription.class).fields().stream()
                .map(RowDescription.Field::name).toList());
        assertEquals(DataRow.ofText(snapshot.toRow().toArray(String[]::new)), c.next());
        expectDone(c, "TIMELINE_STATE");

        c.query("TIMELINE_STATE");
        c.resolve(testKit, TIMELINE).expectMessageClass(Timeline.GetSnapshot.class).replyTo()
                .tell(new Timeline.SnapshotReply(null));
        c.next(RowDescription.class);
        expectDone(c, "TIMELINE_STATE");
    }

    @Test
    void pullTimelineAsksTheRegistryAndAnswersTheCopyOrItsRefusal() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u", "options", TIMELINE_OPTIONS);
        c.query("PULL_TIMELINE (from '10.0.0.1:5454')");
        TimelineRegistry.CopyTimeline copy = c.timelines.expectMessageClass(TimelineRegistry.CopyTimeline.class);
        assertEquals(TIMELINE, copy.id());
        assertEquals("10.0.0.1:5454", copy.from());
        copy.replyTo().tell(new TimelineCopy.Copied("10.0.0.1:5454", 2, Lsn.parse("0/3000000"), Lsn.parse("0/2000000")));
        c.next(RowDescription.class);
        assertEquals(DataRow.ofText("10.0.0.1:5454", "2", "0/3000000", "0/2000000"), c.next());
        expectDone(c, "PULL_TIMELINE");

        c.query("PULL_TIMELINE");
        copy = c.timelines.expectMessageClass(TimelineRegistry.CopyTimeline.class);
        assertNull(copy.from());
        copy.replyTo().tell(new TimelineCopy.CopyFailed(SqlState.DUPLICATE_OBJECT, "already present"));
        assertEquals(SqlState.DUPLICATE_OBJECT.code(), c.next(ErrorResponse.class).code());
        assertEquals(ReadyForQuery.IDLE, c.next());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
    }

    @Test
    void timelineStateAndPullTimelineNeedTheTimelineInTheOptions() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u");
        c.send(new Query("TIMELINE_STATE"));
        c.expectQueryError(SqlState.INVALID_PARAMETER_VALUE);
        c.send(new Query("PULL_TIMELINE"));
        c.expectQueryError(SqlState.INVALID_PARAMETER_VALUE);
    }
}
