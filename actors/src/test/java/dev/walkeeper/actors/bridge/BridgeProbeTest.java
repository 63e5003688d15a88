package dev.walkeeper.actors.bridge;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.actors.socket.SocketReader;
import dev.walkeeper.actors.socket.SocketWriter;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendMessage.AuthenticationOk;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.AcceptorCodec;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.HotStandbyFeedback;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.ProposerCodec;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The bridge's commit path with probes for every socket half: the primary's handshake and WAL are
 * played message by message, each node's reader is played by calling the decoder its connection
 * installed (as the real reader does). It shows that one AppendRequest frame is shared by the
 * nodes, that node answers reach the bridge from the reader, and that the standby status update
 * is written as soon as a quorum flushed — no timer is involved (status interval and heartbeat are
 * an hour).
 */
class BridgeProbeTest {
    private static final ActorTestKit testKit = TestKits.create();
    private static final Duration WAIT = Duration.ofSeconds(5);
    private static final TenantTimelineId TIMELINE =
            new TenantTimelineId("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");
    private static final InetSocketAddress PRIMARY = InetSocketAddress.createUnresolved("primary", 5432);
    private static final List<InetSocketAddress> NODES = List.of(InetSocketAddress.createUnresolved("node-0", 5454),
            InetSocketAddress.createUnresolved("node-1", 5454), InetSocketAddress.createUnresolved("node-2", 5454));
    /** The slot's restart LSN: the new timeline's WAL starts after this segment's long page header. */
    private static final Lsn SEGMENT = Lsn.parse("0/1000000");
    private static final Lsn TERM_START = SEGMENT.plus(Bridge.LONG_PAGE_HEADER_SIZE);

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }

    /** One socket as its connection sees it: probes for both halves, and what was written on it. */
    private static final class Peer {
        final TestProbe<SocketReader.Command> reader = testKit.createTestProbe();
        final TestProbe<SocketWriter.Command> writer = testKit.createTestProbe();
        final FrameDecoder sent = FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        volatile ActorRef<SocketReader.Event> events;
        /** The decoder the connection installed last, with which the test plays its reader. */
        SocketReader.Decoder decoder;

        /** Sockets that attach as this peer: its probes are the reader and writer. */
        SocketFactory socketFactory() {
            return new SocketFactory() {
                @Override
                public <T> Halves attach(ActorContext<T> context, ActorRef<SocketReader.Event> events) {
                    Peer.this.events = events;
                    return new Halves(reader.getRef(), writer.getRef());
                }
            };
        }

        /** The next write as the writer got it; written-notifications on the way are answered (the socket took it all). */
        byte[] nextWrite() {
            while (true) {
                SocketWriter.Command command = writer.receiveMessage(WAIT);
                if (command instanceof SocketWriter.WriteRaw raw) {
                    return raw.bytes();
                }
                if (command instanceof SocketWriter.NotifyWhenWritten notify) {
                    notify.replyTo().tell(new SocketWriter.Written(notify.token()));
                }
            }
        }

        /** The next frontend message written. */
        FrontendMessage written() {
            Frame frame = sent.next();
            while (frame == null) {
                sent.feed(nextWrite());
                frame = sent.next();
            }
            return FrontendCodec.decode(frame);
        }

        <T> T written(Class<T> type) {
            FrontendMessage message = written();
            return assertInstanceOf(type, message, message.toString());
        }

        ProposerMessage proposerMessage() {
            return ProposerCodec.decode(written(CopyData.class).data());
        }

        /** The server sends {@code message}; the connection consumes it (after switching decoders, if it does). */
        void server(Object message) {
            events.tell(new SocketReader.Received(message));
            while (true) {
                SocketReader.Command command = reader.receiveMessage(WAIT);
                if (command instanceof SocketReader.SwitchDecoder switched) {
                    decoder = switched.decoder();
                } else {
                    assertEquals(SocketReader.Consumed.INSTANCE, command);
                    return;
                }
            }
        }

        /** A one-row answer to the query the connection sent, up to ReadyForQuery. */
        void answer(String sqlPrefix, String... row) {
            String sql = written(Query.class).sql();
            assertTrue(sql.startsWith(sqlPrefix), sql);
            List<byte[]> values = new ArrayList<>();
            for (String value : row) {
                values.add(value.getBytes(UTF_8));
            }
            server(new DataRow(values));
            server(new CommandComplete(sqlPrefix));
            server(ReadyForQuery.IDLE);
        }

        /** Startup and trust authentication, up to ReadyForQuery. */
        void accept() {
            written(StartupMessage.class);
            server(new AuthenticationOk());
            server(ReadyForQuery.IDLE);
        }

        /** The node answers as its reader would: the frame through the connection's decoder, its result to the connection. */
        void reply(AcceptorMessage message) {
            Object decoded = decoder.decode(new Frame((byte) 'd', AcceptorCodec.encode(message)));
            assertFalse(decoded instanceof AcceptorMessage, "the decoder reported it to the bridge: " + decoded);
            server(decoded);
        }
    }

    private static Bridge.Settings settings() {
        var primary = new PrimaryReplicationClient.Settings("bridge", null, "bridge", "bridge_slot", 16,
                Duration.ofHours(1), Duration.ofSeconds(10), Duration.ofSeconds(2));
        return new Bridge.Settings(PRIMARY, primary, NODES,
                NodeProposerConnection.Settings.defaults("bridge", null, TIMELINE), Duration.ofHours(1),
                Duration.ofMillis(200), Duration.ofSeconds(5), Duration.ofSeconds(5), Bridge.DEFAULT_BUFFER_BYTES);
    }

    @Test
    void oneFrameForAllNodesAndTheStatusUpdateRightAfterTheQuorum() {
        Peer primary = new Peer();
        List<Peer> nodes = List.of(new Peer(), new Peer(), new Peer());
        ActorRef<Bridge.Command> bridge = testKit.spawn(Bridge.create(settings(),
                address -> (address.equals(PRIMARY) ? primary : nodes.get(NODES.indexOf(address))).socketFactory()));

        primary.accept();
        primary.answer("IDENTIFY_SYSTEM", "42", "1", "0/1000100");
        primary.answer("SHOW wal_segment_size", "16MB");
        primary.answer("SHOW server_version_num", "150018");
        primary.answer("READ_REPLICATION_SLOT", "physical", SEGMENT.toString(), "1");

        // Election: every node greets in term 0 and votes; nobody has WAL yet.
        for (int i = 0; i < 3; i++) {
            Peer node = nodes.get(i);
            node.accept();
            assertEquals(NodeProposerConnection.START_WAL_PUSH, node.written(Query.class).sql());
            node.server(CopyBothResponse.REPLICATION);
            assertInstanceOf(ProposerGreeting.class, node.proposerMessage());
            node.reply(new AcceptorGreeting(10 + i, MembershipConfiguration.EMPTY, 0));
        }
        for (Peer node : nodes) {
            assertEquals(new VoteRequest(0, 1), node.proposerMessage());
            node.reply(new VoteResponse(0, 1, true, Lsn.INVALID, Lsn.INVALID, TermHistory.EMPTY));
        }
        for (Peer node : nodes) {
            assertEquals(TERM_START, assertInstanceOf(ProposerElected.class, node.proposerMessage()).startStreamingAt());
        }

        assertEquals("START_REPLICATION SLOT bridge_slot PHYSICAL " + SEGMENT + " TIMELINE 1",
                primary.written(Query.class).sql());
        primary.server(CopyBothResponse.REPLICATION);

        // The first WAL of the term starts at the segment; the nodes get it from the term start.
        byte[] first = ramp(Bridge.LONG_PAGE_HEADER_SIZE + 300);
        Lsn end = xLogData(primary, SEGMENT, first);
        byte[] wal = Arrays.copyOfRange(first, Bridge.LONG_PAGE_HEADER_SIZE, first.length);
        assertSharedFrame(nodes, new AppendRequest(0, 1, TERM_START, end, Lsn.INVALID, TERM_START, ByteSlice.of(wal)));

        byte[] second = ramp(1000);
        Lsn secondEnd = xLogData(primary, end, second);
        assertSharedFrame(nodes, new AppendRequest(0, 1, end, secondEnd, Lsn.INVALID, TERM_START, ByteSlice.of(second)));

        // One node flushed: no quorum, nothing for the primary.
        nodes.get(0).reply(flushed(secondEnd));
        primary.writer.expectNoMessage(Duration.ofMillis(200));
        // The second: the quorum's flush goes to the primary's writer at once.
        nodes.get(2).reply(flushed(end));
        StandbyStatusUpdate update = statusUpdate(primary.nextWrite());
        assertEquals(end, update.flushLsn());
        assertEquals(end, update.writeLsn());
        assertEquals(end, update.applyLsn());
        nodes.get(1).reply(flushed(secondEnd));
        assertEquals(secondEnd, statusUpdate(primary.nextWrite()).flushLsn());

        TestProbe<Bridge.Status> status = testKit.createTestProbe();
        bridge.tell(new Bridge.GetStatus(status.getRef()));
        assertEquals(secondEnd, status.receiveMessage(WAIT).commitLsn());
        testKit.stop(bridge);
    }

    /** The primary streams {@code wal} at {@code start}, played as its reader would; its end. */
    private static Lsn xLogData(Peer primary, Lsn start, byte[] wal) {
        Lsn end = start.plus(wal.length);
        Object decoded = decodeXLogData(primary, new XLogData(start, end, 0, ByteSlice.of(wal)));
        // Kept unconsumed until the bridge acks it, so no Consumed is awaited here.
        primary.events.tell(new SocketReader.Received(decoded));
        return end;
    }

    private static Object decodeXLogData(Peer primary, XLogData data) {
        Object decoded = primary.decoder.decode(new Frame((byte) 'd', ReplicationCodec.encode(data)));
        assertFalse(decoded instanceof XLogData, "the decoder gave it to the parent: " + decoded);
        return decoded;
    }

    /** Every node got the same array, byte for byte the old per-node encoding of {@code expected}. */
    private static void assertSharedFrame(List<Peer> nodes, AppendRequest expected) {
        byte[] frame = nodes.get(0).nextWrite();
        for (Peer node : nodes.subList(1, nodes.size())) {
            assertSame(frame, node.nextWrite(), "one frame shared by the nodes");
        }
        assertArrayEquals(FrontendCodec.encode(new CopyData(ProposerCodec.encode(expected))), frame);
    }

    private static AppendResponse flushed(Lsn lsn) {
        return new AppendResponse(0, 1, lsn, Lsn.INVALID, HotStandbyFeedback.EMPTY, null);
    }

    /** A bridge connection to {@code node}, reporting to {@code parent}. */
    private static ActorRef<NodeProposerConnection.Command> nodeConnection(Peer node,
            TestProbe<NodeProposerConnection.Event> parent) {
        return testKit.spawn(NodeProposerConnection.create(
                NodeProposerConnection.Settings.defaults("bridge", null, TIMELINE), parent.getRef(),
                node.socketFactory()));
    }

    private static StandbyStatusUpdate statusUpdate(byte[] written) {
        FrameDecoder framer = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        framer.feed(written);
        CopyData data = assertInstanceOf(CopyData.class, FrontendCodec.decode(framer.next()));
        return assertInstanceOf(StandbyStatusUpdate.class, ReplicationCodec.decodeReceiverMessage(data.data()));
    }

    private static byte[] ramp(int length) {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++) {
            bytes[i] = (byte) i;
        }
        return bytes;
    }

    @Test
    void aNodesAcceptorMessagesGoFromItsReaderToTheParent() {
        Peer node = new Peer();
        TestProbe<NodeProposerConnection.Event> parent = testKit.createTestProbe();
        ActorRef<NodeProposerConnection.Command> connection = nodeConnection(node, parent);
        node.accept();
        node.written(Query.class);
        node.server(CopyBothResponse.REPLICATION);
        assertEquals(new NodeProposerConnection.Ready(connection), parent.receiveMessage(WAIT));

        // Decoding alone delivers it: the connection's mailbox is not on the way.
        AppendResponse response = flushed(TERM_START);
        Object marker = node.decoder.decode(new Frame((byte) 'd', AcceptorCodec.encode(response)));
        assertEquals(new NodeProposerConnection.FromNode(connection, response), parent.receiveMessage(WAIT));
        node.server(marker);
        parent.expectNoMessage(Duration.ofMillis(100));

        // Other frames stay the connection's: an error inside CopyBoth fails it.
        byte[] error = BackendCodec.encode(ErrorResponse.error(SqlState.INTERNAL_ERROR, "no"));
        Object decoded = node.decoder.decode(new Frame(error[0], Arrays.copyOfRange(error, 5, error.length)));
        node.events.tell(new SocketReader.Received(decoded));
        var failed = assertInstanceOf(NodeProposerConnection.Failed.class, parent.receiveMessage(WAIT));
        assertEquals("XX000", failed.sqlState());
    }

    @Test
    void thePrimarysWalGoesFromItsReaderToTheParentAndStaysUnconsumedUntilItsAck() {
        Peer primary = new Peer();
        TestProbe<PrimaryReplicationClient.Event> parent = testKit.createTestProbe();
        ActorRef<PrimaryReplicationClient.Command> client = testKit.spawn(PrimaryReplicationClient.create(
                settings().primary(), parent.getRef(), primary.socketFactory()));
        client.tell(PrimaryReplicationClient.StartStreaming.at(SEGMENT));
        primary.accept();
        primary.answer("IDENTIFY_SYSTEM", "42", "1", "0/1000100");
        primary.answer("SHOW wal_segment_size", "16MB");
        primary.answer("SHOW server_version_num", "150018");
        primary.answer("READ_REPLICATION_SLOT", "physical", SEGMENT.toString(), "1");
        parent.expectMessageClass(PrimaryReplicationClient.Identified.class, WAIT);
        primary.written(Query.class);
        primary.server(CopyBothResponse.REPLICATION);
        var streaming = parent.expectMessageClass(PrimaryReplicationClient.Streaming.class, WAIT);

        // Decoding alone gives the parent the WAL; the marker is held until the Ack.
        byte[] wal = ramp(100);
        Object marker = decodeXLogData(primary, new XLogData(SEGMENT, SEGMENT.plus(100), 0, ByteSlice.of(wal)));
        var event = parent.expectMessageClass(PrimaryReplicationClient.Wal.class, WAIT);
        assertEquals(SEGMENT, event.start());
        assertEquals(ByteSlice.of(wal), event.bytes());
        primary.events.tell(new SocketReader.Received(marker));
        primary.reader.expectNoMessage(Duration.ofMillis(100));
        client.tell(PrimaryReplicationClient.Ack.INSTANCE);
        assertEquals(SocketReader.Consumed.INSTANCE, primary.reader.receiveMessage(WAIT));

        // An Ack that overtakes its marker: the marker is consumed as it arrives.
        Object next = decodeXLogData(primary, new XLogData(SEGMENT.plus(100), SEGMENT.plus(200), 0, ByteSlice.of(ramp(100))));
        client.tell(PrimaryReplicationClient.Ack.INSTANCE);
        primary.server(next);

        // A quorum flush reported on the status reporter goes out at once, never backwards.
        streaming.status().report(SEGMENT.plus(100));
        assertEquals(SEGMENT.plus(100), statusUpdate(primary.nextWrite()).flushLsn());
        streaming.status().report(SEGMENT.plus(50));
        client.tell(new PrimaryReplicationClient.ReportFlushed(SEGMENT.plus(60)));
        primary.writer.expectNoMessage(Duration.ofMillis(100));
        testKit.stop(client);
    }

    @Test
    void aSendFrameIsWrittenAsItIs() {
        Peer node = new Peer();
        TestProbe<NodeProposerConnection.Event> parent = testKit.createTestProbe();
        ActorRef<NodeProposerConnection.Command> connection = nodeConnection(node, parent);
        byte[] frame = ProposerCodec.encodeCopyData(new AppendRequest(0, 1, TERM_START, TERM_START.plus(3),
                Lsn.INVALID, Lsn.INVALID, ByteSlice.of(new byte[] {1, 2, 3})));
        connection.tell(new NodeProposerConnection.SendFrame(frame, 7)); // before CopyBoth: kept
        node.accept();
        node.written(Query.class);
        node.server(CopyBothResponse.REPLICATION);
        assertSame(frame, node.nextWrite());
        var notify = node.writer.expectMessageClass(SocketWriter.NotifyWhenWritten.class, WAIT);
        assertEquals(7, notify.token());
        connection.tell(NodeProposerConnection.Stop.INSTANCE);
    }
}
