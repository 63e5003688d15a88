package dev.walkeeper.actors.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.TestKits;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient.Ack;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient.Event;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient.Identified;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient.ReportFlushed;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient.StartStreaming;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient.Streaming;
import dev.walkeeper.actors.bridge.PrimaryReplicationClient.Wal;
import dev.walkeeper.actors.client.ClientConnection;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PostgresServer;
import dev.walkeeper.testkit.Processes;
import dev.walkeeper.testkit.RunningProcess;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link PrimaryReplicationClient} against a real PostgreSQL primary: the WAL it streams is the
 * primary's segment byte for byte, its flush reports move pg_stat_replication and the slot and
 * release synchronous commits, and it answers the walsender's keepalives on its own.
 */
class PrimaryReplicationClientTest {
    private static final Duration WAIT = Duration.ofSeconds(20);
    private static final ActorTestKit testKit = TestKits.create();
    /** wal_sender_timeout 2 s: a client that does not answer keepalives is dropped within seconds. */
    private static PostgresServer primary;

    @TempDir
    Path tmp;

    private TestProbe<Event> events;
    private TestProbe<Wal> wal;

    @BeforeAll
    static void startPrimary() {
        primary = PostgresServer.builder().config("wal_sender_timeout = 2s").build().start();
    }

    @AfterAll
    static void stopAll() {
        testKit.shutdownTestKit();
        if (primary != null) {
            primary.close();
        }
    }

    @AfterEach
    void stopProbes() {
        if (events != null) {
            events.stop();
        }
    }

    /** A parent that acks every Wal at once and hands it to {@link #wal}; other events go to {@link #events}. */
    private ActorRef<Event> autoAckingParent() {
        events = testKit.createTestProbe(Event.class);
        wal = testKit.createTestProbe(Wal.class);
        ActorRef<Event> eventsRef = events.getRef();
        ActorRef<Wal> walRef = wal.getRef();
        Behavior<Event> parent = Behaviors.receive(Event.class)
                .onMessage(Wal.class, w -> {
                    w.client().tell(Ack.INSTANCE);
                    walRef.tell(w);
                    return Behaviors.same();
                })
                .onMessage(Event.class, e -> {
                    eventsRef.tell(e);
                    return Behaviors.same();
                })
                .build();
        return testKit.spawn(parent);
    }

    private ActorRef<PrimaryReplicationClient.Command> connect(PostgresServer server,
                                                               PrimaryReplicationClient.Settings settings,
                                                               ActorRef<Event> parent) {
        return testKit.spawn(PrimaryReplicationClient.create(settings, parent,
                ClientConnection.sockets(new InetSocketAddress("127.0.0.1", server.port()),
                        Duration.ofSeconds(5))));
    }

    private static PrimaryReplicationClient.Settings settings(String name) {
        return PrimaryReplicationClient.Settings.defaults("postgres", null, name, name + "_slot");
    }

    private <T extends Event> T expect(Class<T> type) {
        Event event = events.expectMessageClass(Event.class, WAIT);
        return assertInstanceOf(type, event, event.toString());
    }

    /** Receives Wal until it reaches {@code lsn}, checking that the events are contiguous from {@code from}. */
    private Lsn receiveUpTo(Lsn from, Lsn lsn, ByteArrayOutputStream into) {
        Lsn end = from;
        while (end.compareTo(lsn) < 0) {
            Wal w = wal.expectMessageClass(Wal.class, WAIT);
            assertEquals(end, w.start(), "WAL events must be contiguous");
            if (into != null) {
                into.writeBytes(w.bytes().toArray());
            }
            end = w.end();
        }
        return end;
    }

    private static Lsn lsn(PostgresServer server, String sql) {
        return Lsn.parse(server.psql(sql));
    }

    @Test
    void streamsTheSlotsWalByteForByteFromTheSegmentStart() throws Exception {
        ActorRef<PrimaryReplicationClient.Command> client = connect(primary, settings("bridge_stream"),
                autoAckingParent());
        client.tell(StartStreaming.fromSlot()); // before the handshake: kept until it is done

        Identified id = expect(Identified.class);
        assertEquals(primary.psql("SELECT system_identifier FROM pg_control_system()"),
                Long.toUnsignedString(id.systemId()));
        assertEquals(1, id.timeline());
        assertEquals(16 * 1024 * 1024, id.walSegSize());
        assertTrue(id.serverVersionNum() >= 150000, "version " + id.serverVersionNum());
        assertEquals(primary.psql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'bridge_stream_slot'"),
                id.slotRestartLsn().toString());

        Streaming streaming = expect(Streaming.class);
        Lsn start = streaming.startLsn();
        assertEquals(0, start.segmentOffset(id.walSegSize()), "starts at a segment start: " + start);
        assertTrue(start.compareTo(id.slotRestartLsn()) <= 0);

        primary.psql("CREATE TABLE streamed (id int, payload text);\n"
                + "INSERT INTO streamed SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g;\n"
                + "SELECT pg_switch_wal();");
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        receiveUpTo(start, start.plus(id.walSegSize()), bytes);
        byte[] received = java.util.Arrays.copyOf(bytes.toByteArray(), id.walSegSize());

        String name = XLogFileName.of(id.timeline(), start.segmentNumber(id.walSegSize()), id.walSegSize());
        byte[] onPrimary = Files.readAllBytes(primary.dataDir().resolve("pg_wal").resolve(name));
        assertEquals(id.walSegSize(), onPrimary.length);
        assertArrayEquals(onPrimary, received, "segment " + name);
        testKit.stop(client);
    }

    @Test
    void aFlushReportMovesPgStatReplicationAndTheSlot() {
        ActorRef<PrimaryReplicationClient.Command> client = connect(primary, settings("bridge_flush"),
                autoAckingParent());
        expect(Identified.class);
        client.tell(StartStreaming.fromSlot());
        Lsn start = expect(Streaming.class).startLsn();

        primary.psql("CREATE TABLE flushed (id int); INSERT INTO flushed SELECT generate_series(1, 1000)");
        Lsn target = lsn(primary, "SELECT pg_current_wal_flush_lsn()");
        receiveUpTo(start, target, null);
        String before = primary.psql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'bridge_flush_slot'");
        assertTrue(Lsn.parse(before).compareTo(target) < 0, before + " vs " + target);

        client.tell(new ReportFlushed(target));
        events.awaitAssert(WAIT, () -> {
            assertEquals("t", primary.psql("SELECT flush_lsn >= '" + target + "' AND write_lsn >= '" + target
                    + "' AND replay_lsn >= '" + target + "' FROM pg_stat_replication"
                    + " WHERE application_name = 'bridge_flush'"));
            assertEquals("t", primary.psql("SELECT restart_lsn >= '" + target + "' FROM pg_replication_slots"
                    + " WHERE slot_name = 'bridge_flush_slot'"));
            return null;
        });
        testKit.stop(client);
    }

    @Test
    void aSynchronousCommitWaitsForTheReportedFlush() throws Exception {
        try (PostgresServer syncPrimary = PostgresServer.builder().synchronousStandbyNames("bridge_sync").build()
                .start()) {
            ActorRef<PrimaryReplicationClient.Command> client = connect(syncPrimary, settings("bridge_sync"),
                    autoAckingParent());
            client.tell(StartStreaming.fromSlot());
            expect(Identified.class);
            Lsn start = expect(Streaming.class).startLsn();
            syncPrimary.psql("SET synchronous_commit = off; CREATE TABLE sync_t (id int)");
            // The walsender counts a standby as synchronous only once it reported a valid flush position.
            Lsn created = lsn(syncPrimary, "SELECT pg_current_wal_flush_lsn()");
            Lsn end = receiveUpTo(start, created, null);
            client.tell(new ReportFlushed(end));
            events.awaitAssert(WAIT, () -> {
                assertEquals("sync", syncPrimary.psql(
                        "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'bridge_sync'"));
                return null;
            });

            Command insert = Command.of(syncPrimary.binaries().bin("psql").toString(), "-X", "-q", "-v",
                    "ON_ERROR_STOP=1", "-d", syncPrimary.conninfo("postgres"), "-c", "INSERT INTO sync_t VALUES (1)");
            try (RunningProcess commit = Processes.start(insert, tmp.resolve("insert.log"))) {
                // The commit record is flushed on the primary, then the backend waits for us.
                events.awaitAssert(WAIT, () -> {
                    assertEquals("1", syncPrimary.psql("SELECT count(*) FROM pg_stat_activity"
                            + " WHERE wait_event = 'SyncRep'"));
                    return null;
                });
                assertThrows(AssertionError.class, () -> commit.waitFor(Duration.ofSeconds(2)),
                        "the commit must wait while nothing is reported");
                assertTrue(commit.isAlive());

                Lsn flushed = lsn(syncPrimary, "SELECT pg_current_wal_flush_lsn()");
                Lsn received = receiveUpTo(end, flushed, null);
                client.tell(new ReportFlushed(received));
                assertEquals(0, commit.waitFor(WAIT), commit.output());
            }
            assertEquals("1", syncPrimary.psql("SELECT count(*) FROM sync_t"));
            testKit.stop(client);
        }
    }

    @Test
    void keepalivesAreAnsweredWithoutTheParent() {
        // No periodic status update: only the answers to the walsender's keepalives keep us alive.
        var s = settings("bridge_idle");
        var quiet = new PrimaryReplicationClient.Settings(s.user(), s.password(), s.applicationName(), s.slotName(),
                s.maxUnacknowledged(), Duration.ofHours(1), s.handshakeTimeout(), s.closeTimeout());
        ActorRef<PrimaryReplicationClient.Command> client = connect(primary, quiet, autoAckingParent());
        client.tell(StartStreaming.fromSlot());
        expect(Identified.class);
        expect(Streaming.class);
        String query = "SELECT pid, reply_time FROM pg_stat_replication WHERE application_name = 'bridge_idle'";
        String[] first = new String[1];
        events.awaitAssert(WAIT, () -> {
            first[0] = primary.psql(query + " AND reply_time IS NOT NULL");
            assertFalse(first[0].isEmpty());
            return null;
        });
        String pid = first[0].split("\\|")[0];

        // Five seconds idle, over twice wal_sender_timeout: no failure, the same walsender, newer replies.
        events.expectNoMessage(Duration.ofSeconds(5));
        String later = primary.psql(query);
        assertEquals(pid, later.split("\\|")[0], later);
        assertEquals("t", primary.psql("SELECT reply_time > '" + first[0].split("\\|")[1]
                + "'::timestamptz FROM pg_stat_replication WHERE pid = " + pid));
        testKit.stop(client);
    }

    @Test
    void scramAuthenticationAndAtMostNUnacknowledgedWalEvents() {
        try (PostgresServer scramPrimary = PostgresServer.builder().scramAuth("bridge", "s3cret").build().start()) {
            events = testKit.createTestProbe(Event.class);
            var s = PrimaryReplicationClient.Settings.defaults("bridge", "s3cret", "bridge_scram", "bridge_scram_slot");
            var two = new PrimaryReplicationClient.Settings(s.user(), s.password(), s.applicationName(), s.slotName(),
                    2, s.statusInterval(), s.handshakeTimeout(), s.closeTimeout());
            ActorRef<PrimaryReplicationClient.Command> client = connect(scramPrimary, two, events.getRef());
            client.tell(StartStreaming.fromSlot());
            expect(Identified.class);
            expect(Streaming.class);
            // Megabytes of WAL: many XLogData messages are ready, only two may be outstanding.
            scramPrimary.psql("CREATE TABLE bulk AS SELECT g, repeat('y', 200) FROM generate_series(1, 20000) g");
            Wal first = expect(Wal.class);
            Wal second = expect(Wal.class);
            assertEquals(first.end(), second.start());
            events.expectNoMessage(Duration.ofMillis(500));
            client.tell(Ack.INSTANCE);
            Wal third = expect(Wal.class);
            assertEquals(second.end(), third.start());
            events.expectNoMessage(Duration.ofMillis(300));
            testKit.stop(client);
        }
    }

    @Test
    void aWrongPasswordFails() {
        try (PostgresServer scramPrimary = PostgresServer.builder().scramAuth("bridge", "s3cret").build().start()) {
            events = testKit.createTestProbe(Event.class);
            connect(scramPrimary, PrimaryReplicationClient.Settings.defaults("bridge", "wrong", "bridge_bad",
                    "bridge_bad_slot"), events.getRef());
            PrimaryReplicationClient.Failed failed = expect(PrimaryReplicationClient.Failed.class);
            assertEquals("28P01", failed.sqlState(), failed.toString());
        }
    }

    @Test
    void segmentSizesAsShown() {
        assertEquals(16 * 1024 * 1024, PrimaryReplicationClient.parseSegmentSize("16MB"));
        assertEquals(1 << 30, PrimaryReplicationClient.parseSegmentSize("1GB"));
        assertEquals(1 << 20, PrimaryReplicationClient.parseSegmentSize("1024kB"));
        assertThrows(IllegalArgumentException.class, () -> PrimaryReplicationClient.parseSegmentSize("3MB"));
    }
}
