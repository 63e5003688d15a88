package dev.walkeeper.actors.connection;

import static dev.walkeeper.actors.connection.ConnectionProbe.TIMELINE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.AcceptorCodec;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** START_WAL_PUSH: proposer messages straight to a timeline probe, its replies straight to the writer. */
class WalPushRoleTest {
    private static final ActorTestKit testKit = TestKits.create();

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    /** A connection past the greeting, the timeline probe it talks to and where the timeline replies. */
    private record Pushing(ConnectionProbe c, TestProbe<Timeline.Command> timeline,
                           ActorRef<Timeline.ProposerReply> replies) {}

    private static Pushing pushing() throws Exception {
        ConnectionProbe c = ConnectionProbe.loggedIn(testKit, null, "user", "u");
        c.query("START_WAL_PUSH (proto_version '3')");
        c.reader.expectMessageClass(SocketReader.SwitchDecoder.class);
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        assertEquals(CopyBothResponse.REPLICATION, c.next());
        c.events.tell(new SocketReader.Received(new ProposerMessage.ProposerGreeting(TIMELINE,
                MembershipConfiguration.EMPTY, 150018, 42, 16 << 20)));
        TestProbe<Timeline.Command> timeline = c.resolve(testKit, TIMELINE);
        Timeline.FromProposer greeting = timeline.expectMessageClass(Timeline.FromProposer.class);
        assertEquals(c.connection, greeting.connection(), "the timeline watches the connection itself");
        c.reader.expectMessageClass(SocketReader.SwitchDecoder.class);
        greeting.replyTo().tell(new Timeline.Processed());
        c.reader.expectMessage(SocketReader.Consumed.INSTANCE);
        return new Pushing(c, timeline, greeting.replyTo());
    }

    @Test
    void everyProposerMessageGoesToTheTimelineAndEveryReplyToTheWriterInOrder() throws Exception {
        Pushing p = pushing();
        for (long term = 1; term <= 3; term++) {
            var vote = new ProposerMessage.VoteRequest(0, term);
            p.c().events.tell(new SocketReader.Received(vote));
            Timeline.FromProposer forwarded = p.timeline().expectMessageClass(Timeline.FromProposer.class);
            assertEquals(vote, forwarded.message());
            assertSame(p.replies(), forwarded.replyTo(), "one reply adapter for the whole push");
        }
        var first = new AcceptorMessage.AcceptorGreeting(7, MembershipConfiguration.EMPTY, 3);
        var second = new AcceptorMessage.AcceptorGreeting(7, MembershipConfiguration.EMPTY, 4);
        p.replies().tell(new Timeline.Reply(first));
        p.replies().tell(new Timeline.Reply(second));
        assertEquals(new CopyData(AcceptorCodec.encode(first)), p.c().next());
        assertEquals(new CopyData(AcceptorCodec.encode(second)), p.c().next());
        p.c().reader.expectNoMessage(Duration.ofMillis(50));
        p.replies().tell(new Timeline.Processed());
        p.c().reader.expectMessage(SocketReader.Consumed.INSTANCE);
    }

    @Test
    void aTimelineThatStopsEndsThePushWithXX000() throws Exception {
        Pushing p = pushing();
        p.timeline().stop();
        ErrorResponse error = p.c().next(ErrorResponse.class);
        assertEquals(SqlState.INTERNAL_ERROR.code(), error.code());
        assertTrue(error.message().contains("the timeline stopped"), error.message());
        p.c().expectClosed();
    }

    @Test
    void aSilentFailureClosesWithoutAnError() throws Exception {
        Pushing p = pushing();
        p.replies().tell(new Timeline.Failed("the proposer left", true));
        p.c().writer.expectMessageClass(SocketWriter.Close.class);
        p.c().events.tell(new SocketReader.PeerClosed("gone"));
        p.c().writer.expectTerminated(p.c().connection);
    }

    @Test
    void terminateEndsThePushQuietlyAndAQueryInsideCopyBothIsAProtocolViolation() throws Exception {
        Pushing quiet = pushing();
        quiet.c().send(new Terminate());
        quiet.c().expectClosed();

        Pushing confused = pushing();
        confused.c().send(new Query("IDENTIFY_SYSTEM"));
        confused.c().expectFatal(SqlState.PROTOCOL_VIOLATION);
    }

    @Test
    void aPeerThatGoesAwayStopsThePushingConnection() throws Exception {
        Pushing p = pushing();
        p.c().events.tell(new SocketReader.PeerClosed("reset"));
        p.c().writer.expectTerminated(p.c().connection);
    }
}
