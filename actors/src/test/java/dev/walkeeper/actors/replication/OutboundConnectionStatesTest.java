package dev.walkeeper.actors.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.WrittenBytes;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSasl;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslContinue;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationSaslFinal;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.NoticeResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ParameterStatus;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.replication.ReceiverMessage;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The client-role state machine driven message by message, with probes for the socket halves:
 * what it writes in each state, the decoder switches, the role switch, both clean ends, and the
 * refusals a real server would rarely produce (a forged SCRAM signature, unexpected messages).
 */
class OutboundConnectionStatesTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final Duration WAIT = Duration.ofSeconds(5);
    private static final TenantTimelineId TIMELINE =
            new TenantTimelineId("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    /** One connection under test with its probes; {@link #server} plays the downstream's messages. */
    private static final class Harness {
        final TestProbe<SocketReader.Command> reader = testKit.createTestProbe();
        final TestProbe<SocketWriter.Command> writer = testKit.createTestProbe();
        final TestProbe<OutboundConnection.Event> parent = testKit.createTestProbe();
        final AtomicReference<ActorRef<SocketReader.Event>> events = new AtomicReference<>();
        final FrameDecoder sent = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        final ActorRef<OutboundConnection.Command> connection;

        Harness(String password) {
            SocketFactory sockets = new SocketFactory() {
                @Override
                public <T> Halves attach(ActorContext<T> context, ActorRef<SocketReader.Event> to) {
                    events.set(to);
                    return new Halves(reader.getRef(), writer.getRef());
                }
            };
            OutboundConnection.Settings settings = new OutboundConnection.Settings("pusher", password, 3, TIMELINE,
                    42, 1 << 24, 150018, Duration.ofSeconds(5), Duration.ofMillis(500));
            connection = testKit.spawn(OutboundConnection.create(settings, Lsn.parse("1/2"), parent.getRef(),
                    sockets));
        }

        /** The downstream sends {@code message}; the connection consumes it. */
        void server(Object message) {
            events.get().tell(new SocketReader.Received(message));
            assertEquals(SocketReader.Consumed.INSTANCE, reader.expectMessageClass(SocketReader.Consumed.class, WAIT));
        }

        /** The next frontend message the connection wrote. */
        FrontendMessage written() {
            while (true) {
                Frame frame = sent.next();
                if (frame != null) {
                    return FrontendCodec.decode(frame);
                }
                SocketWriter.Command command = writer.receiveMessage(WAIT);
                byte[] bytes = WrittenBytes.of(command);
                if (bytes != null) {
                    sent.feed(bytes);
                }
            }
        }

        /** Up to the role switch: startup, trust, parameters, the command, CopyBoth, 'i'. */
        void handshake(Lsn start) {
            assertInstanceOf(FrontendMessage.StartupMessage.class, written());
            server(new AuthenticationOk());
            server(new ParameterStatus("server_version", "15.0"));
            server(new NoticeResponse(java.util.Map.of((byte) 'M', "hello")));
            server(ReadyForQuery.IDLE);
            FrontendMessage.Query query = assertInstanceOf(FrontendMessage.Query.class, written());
            assertTrue(query.sql().startsWith("START_PUSH_REPLICATION " + TIMELINE.tenantId() + " "
                    + TIMELINE.timelineId() + " 1/2 (system_id '42', wal_seg_size '16777216', pg_version '150018')"),
                    query.sql());
            events.get().tell(new SocketReader.Received(CopyBothResponse.REPLICATION));
            SocketReader.SwitchDecoder copyBoth = reader.expectMessageClass(SocketReader.SwitchDecoder.class, WAIT);
            assertEquals(1, copyBoth.window());
            reader.expectMessage(WAIT, SocketReader.Consumed.INSTANCE);
            // The new decoder turns CopyData into the receiver's messages, other frames stay backend messages.
            byte[] i = BackendCodec.encode(new CopyData(ReplicationCodec.encode(new StartPosition(start))));
            assertEquals(new StartPosition(start), copyBoth.decoder().decode(new Frame(i[0],
                    java.util.Arrays.copyOfRange(i, 5, i.length))));
            assertEquals(new CopyDone(), copyBoth.decoder().decode(new Frame((byte) 'c', new byte[0])));

            events.get().tell(new SocketReader.Received(new StartPosition(start)));
            SocketReader.SwitchDecoder pushing = reader.expectMessageClass(SocketReader.SwitchDecoder.class, WAIT);
            assertTrue(pushing.window() > 1);
            reader.expectMessage(WAIT, SocketReader.Consumed.INSTANCE);
            assertEquals(new OutboundConnection.Pushing(connection, start, writer.getRef()),
                    parent.expectMessageClass(OutboundConnection.Pushing.class, WAIT));
        }

        OutboundConnection.Failed failed() {
            OutboundConnection.Failed failed = parent.expectMessageClass(OutboundConnection.Failed.class, WAIT);
            parent.expectTerminated(connection, WAIT);
            return failed;
        }
    }

    @Test
    void theStartupPacketNamesUserReplicationApplicationAndTimeline() {
        Harness h = new Harness(null);
        FrontendMessage.StartupMessage startup = assertInstanceOf(FrontendMessage.StartupMessage.class, h.written());
        assertEquals(FrontendMessage.PROTOCOL_3_0, startup.protocolVersion());
        assertEquals("pusher", startup.parameters().get("user"));
        assertEquals("true", startup.parameters().get("replication"));
        assertEquals("walkeeper_3", startup.parameters().get("application_name"));
        assertEquals("-c tenant_id=" + TIMELINE.tenantId() + " timeline_id=" + TIMELINE.timelineId(),
                startup.parameters().get("options"));
    }

    @Test
    void whilePushingStatusUpdatesGoUp() {
        Harness h = new Harness(null);
        h.handshake(Lsn.parse("0/1000000"));
        StandbyStatusUpdate r = new StandbyStatusUpdate(Lsn.parse("0/1000100"), Lsn.parse("0/1000100"), Lsn.INVALID,
                1, false);
        h.server(r);
        assertEquals(new OutboundConnection.Received(h.connection, r),
                h.parent.expectMessageClass(OutboundConnection.Received.class, WAIT));
        ReceiverMessage.HotStandbyFeedback feedback = new ReceiverMessage.HotStandbyFeedback(1, 2, 3, 4, 5);
        h.server(feedback);
        assertEquals(feedback, h.parent.expectMessageClass(OutboundConnection.Received.class, WAIT).message());
        h.server(new ParameterStatus("TimeZone", "UTC")); // asynchronous parameter reports are fine
    }

    @Test
    void finishSendsCopyDoneAndTerminateOnceTheDownstreamIsBackToIdle() {
        Harness h = new Harness(null);
        h.handshake(Lsn.INVALID);
        h.connection.tell(OutboundConnection.Finish.INSTANCE);
        assertEquals(new CopyDone(), h.written());
        StandbyStatusUpdate last = new StandbyStatusUpdate(Lsn.parse("0/10"), Lsn.parse("0/10"), Lsn.INVALID, 0, false);
        h.server(last); // still relayed while ending
        assertEquals(last, h.parent.expectMessageClass(OutboundConnection.Received.class, WAIT).message());
        h.server(new CopyDone());
        h.server(new CommandComplete("START_PUSH_REPLICATION"));
        h.server(ReadyForQuery.IDLE);
        assertEquals(new FrontendMessage.Terminate(), h.written());
        h.writer.expectMessageClass(SocketWriter.Close.class, WAIT);
        h.writer.stop(); // the writer stops once the stream completed
        h.parent.expectMessage(WAIT, new OutboundConnection.Finished(h.connection));
        h.parent.expectTerminated(h.connection, WAIT);
    }

    @Test
    void theDownstreamsCopyDoneIsAnsweredAndEndsThePush() {
        Harness h = new Harness(null);
        h.handshake(Lsn.INVALID);
        h.server(new CopyDone());
        assertEquals(new CopyDone(), h.written());
        h.server(new CommandComplete("START_PUSH_REPLICATION"));
        h.server(ReadyForQuery.IDLE);
        assertEquals(new FrontendMessage.Terminate(), h.written());
        h.writer.expectMessageClass(SocketWriter.Close.class, WAIT);
        h.writer.stop();
        h.parent.expectMessage(WAIT, new OutboundConnection.Finished(h.connection));
    }

    @Test
    void aForgedScramServerSignatureIsRefused() {
        Harness h = new Harness("secret");
        h.written();
        h.server(new AuthenticationSasl(List.of("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")));
        FrontendMessage.PasswordMessage first = assertInstanceOf(FrontendMessage.PasswordMessage.class, h.written());
        FrontendMessage.SaslInitial initial = first.saslInitial();
        assertEquals("SCRAM-SHA-256", initial.mechanism());
        String clientFirst = initial.dataAsString();
        assertTrue(clientFirst.startsWith("n,,n=*,r="), clientFirst);
        String nonce = clientFirst.substring(clientFirst.indexOf("r=") + 2);
        h.server(new AuthenticationSaslContinue(("r=" + nonce + "server,s=c2FsdHNhbHQ=,i=4096")
                .getBytes(StandardCharsets.UTF_8)));
        assertInstanceOf(FrontendMessage.PasswordMessage.class, h.written()); // client-final
        events(h, new AuthenticationSaslFinal("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".getBytes(
                StandardCharsets.UTF_8)));
        OutboundConnection.Failed failed = h.failed();
        assertTrue(failed.reason().contains("SCRAM server signature is invalid"), failed.reason());
        assertNull(failed.sqlState());
    }

    @Test
    void anAuthenticationOkWithoutTheScramProofIsRefused() {
        Harness h = new Harness("secret");
        h.written();
        h.server(new AuthenticationSasl(List.of("SCRAM-SHA-256")));
        h.written();
        events(h, new AuthenticationOk());
        assertTrue(h.failed().reason().contains("without proving it knows the password"));
    }

    @Test
    void onlyScramSha256IsAcceptedAsSaslMechanism() {
        Harness h = new Harness("secret");
        h.written();
        events(h, new AuthenticationSasl(List.of("SCRAM-SHA-256-PLUS")));
        assertTrue(h.failed().reason().contains("none of which is SCRAM-SHA-256"));
    }

    @Test
    void unexpectedMessagesErrorsAndBrokenFramesEndTheConnection() {
        Harness unexpected = new Harness(null);
        unexpected.handshake(Lsn.INVALID);
        events(unexpected, DataRow.ofText("x"));
        assertTrue(unexpected.failed().reason().contains("unexpected message DataRow from the downstream in the"
                + " pushing state"));

        Harness secondStart = new Harness(null);
        secondStart.handshake(Lsn.INVALID);
        events(secondStart, new StartPosition(Lsn.INVALID));
        assertTrue(secondStart.failed().reason().contains("StartPosition"));

        Harness error = new Harness(null);
        error.written();
        events(error, ErrorResponse.fatal(SqlState.TOO_MANY_CONNECTIONS, "sorry, too many clients already"));
        OutboundConnection.Failed failed = error.failed();
        assertEquals("53300", failed.sqlState());
        assertTrue(failed.reason().contains("too many clients"));

        Harness broken = new Harness(null);
        broken.written(); // the StartupMessage: setup ran, the reader's event adapter exists
        broken.events.get().tell(new SocketReader.ReadFailed(new ProtocolException("invalid backend message type 'x'")));
        assertTrue(broken.failed().reason().contains("invalid message from the downstream"));

        Harness closed = new Harness(null);
        closed.written(); // the StartupMessage: setup ran, the reader's event adapter exists
        closed.events.get().tell(new SocketReader.PeerClosed("connection closed by peer"));
        assertEquals("connection closed by peer", closed.failed().reason());
    }

    @Test
    void finishBeforeThePushStartedJustTerminates() {
        Harness h = new Harness(null);
        h.written();
        h.connection.tell(OutboundConnection.Finish.INSTANCE);
        assertEquals(new FrontendMessage.Terminate(), h.written());
        h.writer.expectMessageClass(SocketWriter.Close.class, WAIT);
        h.writer.stop();
        h.parent.expectMessage(WAIT, new OutboundConnection.Finished(h.connection));
    }

    /** Delivers a message after which the connection stops (so it may not ack it). */
    private static void events(Harness h, BackendMessage message) {
        h.events.get().tell(new SocketReader.Received(message));
    }

    private static void events(Harness h, ReceiverMessage message) {
        h.events.get().tell(new SocketReader.Received(message));
    }
}
