package dev.walkeeper.actors.connection;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.WrittenBytes;
import dev.walkeeper.actors.replication.PushReceivers;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * A {@link Connection} whose socket halves and timeline registry are probes: {@code events} plays
 * the reader's part, and what the connection writes is what a client would receive.
 */
class ConnectionProbe {
    static final long SYSTEM_ID = 7_234_567_890_123_456_789L;
    static final TenantTimelineId TIMELINE =
            new TenantTimelineId("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");
    /** Startup options naming {@link #TIMELINE}. */
    static final String TIMELINE_OPTIONS = "-c tenant_id=" + TIMELINE.tenantId() + " timeline_id=" + TIMELINE.timelineId();

    final ActorRef<Connection.Command> connection;
    final TestProbe<SocketReader.Command> reader;
    final TestProbe<SocketWriter.Command> writer;
    final TestProbe<TimelineRegistry.Command> timelines;
    final ActorRef<SocketReader.Event> events;

    ConnectionProbe(ActorTestKit testKit, ConnectionSettings settings, String clientIp) throws Exception {
        this(testKit, settings, null, clientIp);
    }

    ConnectionProbe(ActorTestKit testKit, ConnectionSettings settings, PushReceivers pushReceivers, String clientIp)
            throws Exception {
        reader = testKit.createTestProbe(SocketReader.Command.class);
        writer = testKit.createTestProbe(SocketWriter.Command.class);
        timelines = testKit.createTestProbe(TimelineRegistry.Command.class);
        CompletableFuture<ActorRef<SocketReader.Event>> eventsRef = new CompletableFuture<>();
        SocketFactory sockets = new SocketFactory() {
            @Override
            public <T> Halves attach(ActorContext<T> context, ActorRef<SocketReader.Event> events) {
                eventsRef.complete(events);
                return new Halves(reader.ref(), writer.ref());
            }
        };
        connection = testKit.spawn(Connection.create(settings, timelines.ref(), pushReceivers,
                new InetSocketAddress(clientIp, 40000), sockets));
        events = eventsRef.get(5, TimeUnit.SECONDS);
    }

    static ConnectionSettings settings(AuthPolicy auth, Duration startupTimeout) {
        return new ConnectionSettings(startupTimeout, Duration.ofSeconds(5), 1 << 20, "15.0", SYSTEM_ID,
                16 * 1024 * 1024, auth);
    }

    static Map<String, String> params(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    /** A trusted loopback client past startup, with these startup parameters. */
    static ConnectionProbe loggedIn(ActorTestKit testKit, PushReceivers pushReceivers, String... startupParams)
            throws Exception {
        ConnectionProbe c = new ConnectionProbe(testKit, settings(AuthPolicy.loopbackTrustOnly(), Duration.ofSeconds(30)),
                pushReceivers, "127.0.0.1");
        c.startup(params(startupParams));
        c.expectLoggedIn();
        return c;
    }

    /** Sends a query without expecting its Consumed: commands that ask the timeline hold the reader. */
    void query(String sql) {
        events.tell(new SocketReader.Received(new Query(sql)));
    }

    /** Answers the connection's registry lookup of {@code id} with a new timeline probe. */
    TestProbe<Timeline.Command> resolve(ActorTestKit testKit, TenantTimelineId id) {
        TimelineRegistry.Get get = timelines.expectMessageClass(TimelineRegistry.Get.class);
        assertEquals(id, get.id());
        TestProbe<Timeline.Command> timeline = testKit.createTestProbe(Timeline.Command.class);
        get.replyTo().tell(timeline.ref());
        return timeline;
    }

    /** Delivers a message as the reader would, and checks the connection consumed it. */
    void send(Object message) {
        events.tell(new SocketReader.Received(message));
        reader.expectMessage(SocketReader.Consumed.INSTANCE);
    }

    /** The next message written: a {@code Write}, or one frame written as bytes (WriteRaw, or the WAL sender's WriteParts). */
    BackendMessage next() {
        SocketWriter.Command command = writer.expectMessageClass(SocketWriter.Command.class);
        byte[] bytes = WrittenBytes.of(command);
        if (bytes != null) {
            assertEquals(bytes.length - 1, ByteBuffer.wrap(bytes, 1, 4).getInt(), "one whole frame");
            return BackendCodec.decode(new Frame(bytes[0], Arrays.copyOfRange(bytes, 5, bytes.length)));
        }
        return assertInstanceOf(SocketWriter.Write.class, command).message();
    }

    <M extends BackendMessage> M next(Class<M> type) {
        return assertInstanceOf(type, next());
    }

    void startup(Map<String, String> params) {
        send(new StartupMessage(196608, params));
    }

    void expectLoggedIn() {
        next(AuthenticationOk.class);
        List<BackendMessage> rest = new ArrayList<>();
        BackendMessage m;
        while (!((m = next()) instanceof ReadyForQuery)) {
            rest.add(m);
        }
        assertTrue(rest.stream().anyMatch(p -> p.equals(new BackendMessage.ParameterStatus("server_version", "15.0"))),
                "server_version reported: " + rest);
        assertTrue(rest.stream().anyMatch(p -> p instanceof BackendMessage.BackendKeyData));
    }

    /** The connection sends a FATAL ErrorResponse with this SQLSTATE, closes, and stops once the socket is gone. */
    ErrorResponse expectFatal(SqlState state) {
        ErrorResponse error = next(ErrorResponse.class);
        assertEquals("FATAL", error.severity());
        assertEquals(state.code(), error.code(), error.message());
        expectClosed();
        return error;
    }

    void expectClosed() {
        writer.expectMessageClass(SocketWriter.Close.class);
        events.tell(new SocketReader.PeerClosed("socket closed"));
        writer.expectTerminated(connection);
    }

    /** An ERROR (not FATAL) then ReadyForQuery: the command failed, the connection goes on. */
    ErrorResponse expectQueryError(SqlState state) {
        ErrorResponse error = next(ErrorResponse.class);
        assertEquals("ERROR", error.severity());
        assertEquals(state.code(), error.code(), error.message());
        assertEquals(ReadyForQuery.IDLE, next());
        return error;
    }
}
