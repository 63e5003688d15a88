package dev.walkeeper.actors.connection;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.timeline.RuntimeDownstreams;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.SqlState;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * ADD_DOWNSTREAM, REMOVE_DOWNSTREAM and LIST_DOWNSTREAMS on a connection whose registry is a
 * probe: asked of the registrations through the registry, answered with rows or their refusal.
 */
class DownstreamCommandsTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final String ADD = "ADD_DOWNSTREAM 'archive' (tenant_id '" + ConnectionProbe.TIMELINE.tenantId()
            + "', timeline_id '" + ConnectionProbe.TIMELINE.timelineId() + "', host '127.0.0.1', port '5455')";
    private static final RuntimeDownstreams.Registered ARCHIVE = new RuntimeDownstreams.Registered("archive",
            ConnectionProbe.TIMELINE, "127.0.0.1", 5455, "walkeeper");

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    private static ConnectionProbe replicationClient() throws Exception {
        return ConnectionProbe.loggedIn(testKit, null, "user", "u", "replication", "true");
    }

    @Test
    void anAddIsAskedOfTheRegistrationsAndAnsweredWithTheDownstreams() throws Exception {
        ConnectionProbe c = replicationClient();
        c.query(ADD);
        var ask = c.timelines.expectMessageClass(TimelineRegistry.AskDownstreams.class);
        assertEquals(ARCHIVE, ((RuntimeDownstreams.Add) ask.request()).downstream());
        c.reader.expectNoMessage(Duration.ofMillis(100)); // held until answered
        ask.request().replyTo().tell(RuntimeDownstreams.Reply.ok(List.of(ARCHIVE)));
        assertEquals(List.of("name", "tenant_id", "timeline_id", "host", "port", "user"),
                c.next(RowDescription.class).fields().stream().map(RowDescription.Field::name).toList());
        assertEquals(DataRow.ofText("archive", ConnectionProbe.TIMELINE.tenantId(),
                ConnectionProbe.TIMELINE.timelineId(), "127.0.0.1", "5455", "walkeeper"), c.next());
        assertEquals(new CommandComplete("ADD_DOWNSTREAM"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);

        c.query("REMOVE_DOWNSTREAM archive");
        ask = c.timelines.expectMessageClass(TimelineRegistry.AskDownstreams.class);
        assertEquals(new RuntimeDownstreams.Remove("archive", ask.request().replyTo()), ask.request());
        ask.request().replyTo().tell(RuntimeDownstreams.Reply.ok(List.of()));
        c.next(RowDescription.class);
        assertEquals(new CommandComplete("REMOVE_DOWNSTREAM"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
    }

    @Test
    void aRefusalIsAnErrorWithItsSqlStateAndTheSessionGoesOn() throws Exception {
        ConnectionProbe c = replicationClient();
        c.query(ADD);
        var ask = c.timelines.expectMessageClass(TimelineRegistry.AskDownstreams.class);
        ask.request().replyTo().tell(RuntimeDownstreams.Reply.refused(SqlState.DUPLICATE_OBJECT,
                "downstream \"archive\" already exists"));
        assertEquals("downstream \"archive\" already exists", c.expectQueryError(SqlState.DUPLICATE_OBJECT).message());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);

        c.query("LIST_DOWNSTREAMS");
        ask = c.timelines.expectMessageClass(TimelineRegistry.AskDownstreams.class);
        assertTrue(ask.request() instanceof RuntimeDownstreams.GetAll, ask::toString);
        ask.request().replyTo().tell(RuntimeDownstreams.Reply.ok(List.of(ARCHIVE)));
        c.next(RowDescription.class);
        c.next(DataRow.class);
        assertEquals(new CommandComplete("LIST_DOWNSTREAMS"), c.next());
        assertEquals(ReadyForQuery.IDLE, c.next());
    }

    @Test
    void onlyAReplicationConnectionMayChangeThem() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u", "database", "postgres");
        c.send(new dev.walkeeper.protocol.pg.FrontendMessage.Query(ADD));
        assertTrue(c.expectQueryError(SqlState.INSUFFICIENT_PRIVILEGE).message().contains("replication connection"));
        c.timelines.expectNoMessage(Duration.ofMillis(100));
    }

    @Test
    void aSyntaxErrorIsAnsweredWithoutAsking() throws Exception {
        ConnectionProbe c = replicationClient();
        c.send(new dev.walkeeper.protocol.pg.FrontendMessage.Query("ADD_DOWNSTREAM 'archive' (host 'h')"));
        c.expectQueryError(SqlState.SYNTAX_ERROR);
        c.timelines.expectNoMessage(Duration.ofMillis(100));
    }
}
