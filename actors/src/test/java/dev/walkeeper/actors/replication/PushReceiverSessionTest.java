package dev.walkeeper.actors.replication;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.replication.PushReceiverSession.Next;
import dev.walkeeper.actors.replication.PushReceiverSession.Step;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.ReplicationCommand;
import dev.walkeeper.protocol.replication.ReceiverMessage;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.ReplicationCodec;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The downstream's rules for {@code START_PUSH_REPLICATION}, without sockets: the handshake
 * answers, writes and status updates only after flushes, one pusher per timeline (55006, unless the
 * first went silent), the refusals, and the clean and unclean ends.
 */
class PushReceiverSessionTest {
    private static final int SEG = 1 << 20;
    private static final WalFormat FORMAT = new WalFormat(150018, 7000000000000000001L, SEG, 1);
    private static final Lsn SEG1 = new Lsn(SEG);
    private static final TenantTimelineId TIMELINE =
            new TenantTimelineId("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210");

    @TempDir
    Path root;
    private final AtomicLong nanos = new AtomicLong();
    private PushReceivers receivers;

    @BeforeEach
    void setUp() {
        receivers = new PushReceivers(id -> root.resolve(id.tenantId()).resolve(id.timelineId()),
                Duration.ofSeconds(30), nanos::get);
    }

    @AfterEach
    void tearDown() throws IOException {
        receivers.close();
    }

    private static ReplicationCommand.StartPushReplication command(String options) {
        return (ReplicationCommand.StartPushReplication) ReplicationCommand.parse("START_PUSH_REPLICATION "
                + TIMELINE.tenantId() + " " + TIMELINE.timelineId() + " 0/3000000" + options);
    }

    private static final String OPTIONS = " (system_id '7000000000000000001', wal_seg_size '" + SEG
            + "', pg_version '150018')";

    private PushReceiverSession.Started start(String pusher) {
        PushReceiverSession.Opening opening = PushReceiverSession.open(command(OPTIONS), TIMELINE, pusher, receivers);
        return assertInstanceOf(PushReceiverSession.Started.class, opening, opening.replies().toString());
    }

    private static ReceiverMessage decode(BackendMessage message) {
        return ReplicationCodec.decodeReceiverMessage(assertInstanceOf(CopyData.class, message).data());
    }

    private static CopyData xlog(Lsn start, Lsn end, byte[] wal) {
        return new CopyData(ReplicationCodec.encode(new XLogData(start, end, 0, ByteSlice.of(wal))));
    }

    private static byte[] wal(int approx) {
        return new WalGenerator(FORMAT, SEG1, 100).nextRecords(approx);
    }

    @Test
    void anEmptyDownstreamAnswersCopyBothThenStartPositionInvalid() {
        PushReceiverSession.Started started = start("walkeeper_1");
        assertEquals(CopyBothResponse.REPLICATION, started.replies().get(0));
        assertEquals(new StartPosition(Lsn.INVALID), decode(started.replies().get(1)));
        assertEquals(2, started.replies().size());
        PushReceiverSession session = started.session();
        assertEquals(TIMELINE, session.timeline());
        assertEquals(7000000000000000001L, session.systemId());
        assertEquals(SEG, session.walSegSize());
        assertEquals(150018, session.pgVersion());
        assertEquals(Lsn.parse("0/3000000"), session.pusherCommitLsn());
        session.close();
    }

    @Test
    void pushedWalIsReportedOnlyAfterTheFlush() throws IOException {
        byte[] bytes = wal(300_000);
        Lsn end = SEG1.plus(bytes.length);
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            Step written = session.receive(xlog(SEG1, end, bytes));
            assertEquals(List.of(), written.replies());
            assertEquals(Next.CONTINUE, written.next());
            assertTrue(session.flushPending());

            Step flushed = session.flush();
            assertEquals(1, flushed.replies().size());
            StandbyStatusUpdate r = (StandbyStatusUpdate) decode(flushed.replies().get(0));
            assertEquals(end, r.writeLsn());
            assertEquals(end, r.flushLsn());
            assertEquals(Lsn.INVALID, r.applyLsn());
            assertFalse(r.replyRequested());
            assertFalse(session.flushPending());
            // Nothing new: nothing to report.
            assertEquals(List.of(), session.flush().replies());
        }
        byte[] stored = Files.readAllBytes(root.resolve(TIMELINE.tenantId()).resolve(TIMELINE.timelineId())
                .resolve("000000010000000000000001.partial"));
        assertArrayEquals(bytes, Arrays.copyOf(stored, bytes.length));
    }

    @Test
    void aKeepaliveAskingForAReplyGetsAStatusUpdateAfterAFlush() {
        byte[] bytes = wal(20_000);
        Lsn end = SEG1.plus(bytes.length);
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            assertEquals(List.of(), session.receive(new CopyData(ReplicationCodec.encode(
                    new PrimaryKeepalive(end, 0, false)))).replies());
            session.receive(xlog(SEG1, end, bytes));
            Step reply = session.receive(new PrimaryKeepalive(end, 0, true)); // decoded by the caller's reader
            StandbyStatusUpdate r = (StandbyStatusUpdate) decode(reply.replies().get(0));
            assertEquals(end, r.flushLsn());
            assertFalse(session.flushPending());
            // Asked again with nothing new: the same positions, still answered.
            StandbyStatusUpdate again = (StandbyStatusUpdate) decode(
                    session.receive(new PrimaryKeepalive(end, 0, true)).replies().get(0));
            assertEquals(end, again.flushLsn());
        }
    }

    @Test
    void theNextPushStartsWhereTheLastOneWasFlushed() {
        byte[] bytes = wal(200_000);
        Lsn end = SEG1.plus(bytes.length);
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            session.receive(xlog(SEG1, end, bytes));
            session.flush();
        }
        PushReceiverSession.Started again = start("walkeeper_2");
        assertEquals(new StartPosition(end), decode(again.replies().get(1)));
        // A re-push of what is stored is skipped: nothing to flush.
        Step repush = again.session().receive(xlog(SEG1.plus(1000), end, Arrays.copyOfRange(bytes, 1000, 5000)));
        assertEquals(Next.CONTINUE, repush.next());
        assertFalse(again.session().flushPending());
        again.session().close();
    }

    @Test
    void aSecondPusherIsRefusedWith55006WhileTheFirstIsAlive() {
        PushReceiverSession first = start("walkeeper_1 from 10.0.0.1").session();
        PushReceiverSession.Opening second = PushReceiverSession.open(command(OPTIONS), TIMELINE, "walkeeper_2",
                receivers);
        PushReceiverSession.Refused refused = assertInstanceOf(PushReceiverSession.Refused.class, second);
        ErrorResponse error = assertInstanceOf(ErrorResponse.class, refused.replies().get(0));
        assertEquals("55006", error.code());
        assertEquals("ERROR", error.severity());
        assertTrue(error.message().contains("walkeeper_1 from 10.0.0.1"), error.message());
        assertEquals(ReadyForQuery.IDLE, refused.replies().get(1));
        assertEquals("walkeeper_1 from 10.0.0.1", receivers.pusherOf(TIMELINE));

        // Messages keep the first alive; once it ends, the timeline is free.
        nanos.addAndGet(Duration.ofSeconds(20).toNanos());
        first.receive(new PrimaryKeepalive(Lsn.INVALID, 0, false));
        nanos.addAndGet(Duration.ofSeconds(20).toNanos());
        assertInstanceOf(PushReceiverSession.Refused.class,
                PushReceiverSession.open(command(OPTIONS), TIMELINE, "walkeeper_2", receivers));
        first.close();
        assertNull(receivers.pusherOf(TIMELINE));
        start("walkeeper_2").session().close();
    }

    @Test
    void aSilentPusherIsTakenOverAndItsNextMessageFails() {
        PushReceiverSession first = start("walkeeper_1").session();
        nanos.addAndGet(Duration.ofSeconds(31).toNanos());
        PushReceiverSession second = start("walkeeper_2").session();
        assertEquals("walkeeper_2", receivers.pusherOf(TIMELINE));

        byte[] bytes = wal(10_000);
        Step late = first.receive(xlog(SEG1, SEG1.plus(bytes.length), bytes));
        assertEquals(Next.CLOSE, late.next());
        ErrorResponse error = (ErrorResponse) late.replies().get(0);
        assertEquals("55006", error.code());
        assertTrue(error.message().contains("taken over by walkeeper_2"), error.message());
        first.close(); // does not release the new holder's lease
        assertEquals("walkeeper_2", receivers.pusherOf(TIMELINE));
        second.close();
    }

    @Test
    void commandsThatCannotBeServedAreRefusedWithTheirSqlState() {
        TenantTimelineId other = new TenantTimelineId("11111111111111111111111111111111", TIMELINE.timelineId());
        assertRefused("22023", "startup options name", PushReceiverSession.open(command(OPTIONS), other, "p", receivers));
        assertRefused("22023", "wal_seg_size", PushReceiverSession.open(command(""), null, "p", receivers));
        assertRefused("22023", "invalid", PushReceiverSession.open(command(" (wal_seg_size '1000')"), null, "p",
                receivers));
        assertRefused("22023", "invalid", PushReceiverSession.open(command(" (wal_seg_size '1048576', system_id 'x')"),
                null, "p", receivers));
        // Without options in the startup packet the command's timeline counts.
        PushReceiverSession.Opening ok = PushReceiverSession.open(command(OPTIONS), null, "p", receivers);
        ((PushReceiverSession.Started) ok).session().close();
        // The timeline's files are in 1 MiB segments: a pusher with others is refused.
        assertRefused("XX000", "segments of", PushReceiverSession.open(command(" (wal_seg_size '2097152')"), null, "p",
                receivers));
    }

    private static void assertRefused(String code, String text, PushReceiverSession.Opening opening) {
        PushReceiverSession.Refused refused = assertInstanceOf(PushReceiverSession.Refused.class, opening);
        assertEquals(code, refused.sqlState().code());
        assertTrue(refused.message().contains(text), refused.message());
        assertEquals(List.of(ErrorResponse.error(refused.sqlState(), refused.message()), ReadyForQuery.IDLE),
                refused.replies());
    }

    @Test
    void aGapOrDivergentWalEndsTheStreamWithAnError() {
        byte[] bytes = wal(50_000);
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            Step notAligned = session.receive(xlog(SEG1.plus(8192), SEG1.plus(9000), new byte[808]));
            assertEquals(Next.CLOSE, notAligned.next());
            assertEquals("XX000", ((ErrorResponse) notAligned.replies().get(0)).code());
            assertTrue(((ErrorResponse) notAligned.replies().get(0)).message().startsWith("gap in pushed WAL"));
        }
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            Lsn end = SEG1.plus(bytes.length);
            session.receive(xlog(SEG1, end, bytes));
            byte[] changed = Arrays.copyOf(bytes, 100);
            changed[50] ^= 1;
            Step divergent = session.receive(xlog(SEG1, end, changed));
            assertEquals(Next.CLOSE, divergent.next());
            ErrorResponse error = (ErrorResponse) divergent.replies().get(0);
            assertEquals("XX000", error.code());
            assertTrue(error.message().startsWith("pushed WAL diverges"), error.message());
            Step gap = session.receive(xlog(end.plus(8), end.plus(16), new byte[8]));
            assertTrue(((ErrorResponse) gap.replies().get(0)).message().startsWith("gap in pushed WAL"));
        }
    }

    @Test
    void walBeyondTheDeclaredEndOrGarbageIsAProtocolViolation() {
        byte[] bytes = wal(10_000);
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            Step beyond = session.receive(xlog(SEG1, SEG1.plus(bytes.length - 8), bytes));
            assertEquals(Next.CLOSE, beyond.next());
            ErrorResponse error = (ErrorResponse) beyond.replies().get(0);
            assertEquals("08P01", error.code());
            assertEquals("FATAL", error.severity());
            assertTrue(error.message().contains("only committed WAL"), error.message());
            assertEquals("08P01", ((ErrorResponse) session.receive(new CopyData(new byte[] {'r', 1})).replies().get(0))
                    .code());
            assertEquals("08P01", ((ErrorResponse) session.receive(new FrontendMessage.Query("SELECT 1")).replies()
                    .get(0)).code());
        }
    }

    @Test
    void copyDoneEndsTheStreamWithAFinalStatusAndReadyForQuery() {
        byte[] bytes = wal(10_000);
        Lsn end = SEG1.plus(bytes.length);
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            session.receive(xlog(SEG1, end, bytes));
            Step done = session.receive(new CopyDone());
            assertEquals(Next.QUERY, done.next());
            assertEquals(4, done.replies().size());
            assertEquals(end, ((StandbyStatusUpdate) decode(done.replies().get(0))).flushLsn());
            assertEquals(List.of(new CopyDone(), new CommandComplete("START_PUSH_REPLICATION"), ReadyForQuery.IDLE),
                    done.replies().subList(1, 4));
        }
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            Step failed = session.receive(new FrontendMessage.CopyFail("node shutting down"));
            assertEquals(Next.QUERY, failed.next());
            ErrorResponse error = (ErrorResponse) failed.replies().get(0);
            assertEquals("57014", error.code());
            assertTrue(error.message().contains("node shutting down"));
            assertEquals(ReadyForQuery.IDLE, failed.replies().get(1));
        }
        try (PushReceiverSession session = start("walkeeper_1").session()) {
            session.receive(xlog(end, end.plus(0), new byte[0]));
            assertEquals(new Step(List.of(), Next.CLOSE), session.receive(new FrontendMessage.Terminate()));
        }
    }
}
