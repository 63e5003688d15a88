package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.ReplicationCommand.Empty;
import dev.walkeeper.protocol.pg.ReplicationCommand.IdentifySystem;
import dev.walkeeper.protocol.pg.ReplicationCommand.Show;
import dev.walkeeper.protocol.pg.ReplicationCommand.StartPushReplication;
import dev.walkeeper.protocol.pg.ReplicationCommand.StartReplication;
import dev.walkeeper.protocol.pg.ReplicationCommand.StartWalPush;
import dev.walkeeper.protocol.pg.ReplicationCommand.TimelineHistory;
import dev.walkeeper.protocol.pg.ReplicationCommand.TimelineStatus;
import dev.walkeeper.protocol.pg.ReplicationCommand.Unsupported;
import java.util.List;
import java.util.Map;
import dev.walkeeper.protocol.Gen;
import dev.walkeeper.protocol.Seeds;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ReplicationCommandTest {
    private static final String TENANT = "9ef87a5bf0d92544f6fafeeb3239695c";
    private static final String TIMELINE = "de200bd42b49cc1814412c7e592dd6e9";

    @Test
    void neonStartWalPush() {
        var push = (StartWalPush) ReplicationCommand.parse(
                "START_WAL_PUSH (proto_version '3', allow_timeline_creation 'true')");
        assertEquals(Map.of("proto_version", "3", "allow_timeline_creation", "true"), push.options());
        assertEquals(3, push.protoVersion());
        assertTrue(push.allowTimelineCreation());
    }

    @Test
    void startWalPushDefaultsAsNeon() {
        var push = (StartWalPush) ReplicationCommand.parse("START_WAL_PUSH");
        assertEquals(Map.of(), push.options());
        assertEquals(2, push.protoVersion());
        assertTrue(push.allowTimelineCreation());
        assertEquals(push, ReplicationCommand.parse("start_wal_push ( ) ;"));
    }

    @Test
    void startWalPushKeepsUnknownKeysAndAcceptsLooserSpelling() {
        var push = (StartWalPush) ReplicationCommand.parse(
                "START_WAL_PUSH(Proto_Version='3',allow_timeline_creation 'false', future_thing 'a b',)");
        assertEquals(Map.of("proto_version", "3", "allow_timeline_creation", "false", "future_thing", "a b"),
                push.options());
        assertFalse(push.allowTimelineCreation());
    }

    @ParameterizedTest
    @ValueSource(strings = {"START_WAL_PUSH (proto_version 'three')", "START_WAL_PUSH (proto_version '-1')",
            "START_WAL_PUSH (allow_timeline_creation 'yes')", "START_WAL_PUSH (proto_version)",
            "START_WAL_PUSH (proto_version '3'", "START_WAL_PUSH proto_version '3'", "START_WAL_PUSH (a '1') x",
            "START_WAL_PUSH ('3')"})
    void malformedStartWalPushIsASyntaxError(String sql) {
        assertSyntaxError(sql);
    }

    @Test
    void startReplicationAsPostgresClientsSendIt() {
        // pg_receivewal / a standby.
        assertEquals(new StartReplication(null, false, Lsn.parse("0/3000000"), 1, null),
                ReplicationCommand.parse("START_REPLICATION 0/3000000 TIMELINE 1"));
        assertEquals(new StartReplication("walkeeper_slot", true, Lsn.parse("16/B374D848"), null, null),
                ReplicationCommand.parse("START_REPLICATION SLOT walkeeper_slot PHYSICAL 16/B374D848"));
    }

    @Test
    void startReplicationWithNeonTerm() {
        assertEquals(new StartReplication(null, false, Lsn.parse("1/0"), null, 7L),
                ReplicationCommand.parse("START_REPLICATION 1/0 (term='7')"));
        assertEquals(new StartReplication("Mixed Case", true, Lsn.parse("0/1"), 2, 12345678901L),
                ReplicationCommand.parse("  start_replication slot \"Mixed Case\" physical 0/1 timeline 2 (term '12345678901');  "));
        // Unquoted slot names fold to lower case, as PostgreSQL identifiers.
        assertEquals("myslot", ((StartReplication) ReplicationCommand.parse("START_REPLICATION SLOT MySlot 0/0")).slot());
    }

    @Test
    void logicalReplicationIsUnsupported() {
        assertEquals(new Unsupported("START_REPLICATION LOGICAL"),
                ReplicationCommand.parse("START_REPLICATION SLOT sub LOGICAL 0/0 (proto_version '1')"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"START_REPLICATION", "START_REPLICATION foo", "START_REPLICATION 0/0/0",
            "START_REPLICATION 1/123456789", "START_REPLICATION SLOT", "START_REPLICATION SLOT s",
            "START_REPLICATION 0/0 TIMELINE", "START_REPLICATION 0/0 TIMELINE 0", "START_REPLICATION 0/0 TIMELINE x",
            "START_REPLICATION 0/0 TIMELINE 99999999999", "START_REPLICATION 0/0 (term='-1')",
            "START_REPLICATION 0/0 (term='x')", "START_REPLICATION 0/0 (trem='1')", "START_REPLICATION 0/0 extra",
            "START_REPLICATION PHYSICAL PHYSICAL 0/0", "START_REPLICATION SLOT \"\" 0/0",
            "START_REPLICATION SLOT \"open 0/0"})
    void malformedStartReplicationIsASyntaxError(String sql) {
        assertSyntaxError(sql);
    }

    @Test
    void syntaxErrorsNameTheOffendingToken() {
        assertEquals("syntax error at or near \"foo\"", assertSyntaxError("START_REPLICATION foo").getMessage());
        assertEquals("syntax error at end of input", assertSyntaxError("START_REPLICATION").getMessage());
        assertEquals("syntax error at or near \"extra\"", assertSyntaxError("IDENTIFY_SYSTEM extra").getMessage());
        assertEquals("invalid timeline 0", assertSyntaxError("TIMELINE_HISTORY 0").getMessage());
    }

    @Test
    void startPushReplicationAsSpecified() {
        var push = (StartPushReplication) ReplicationCommand.parse("START_PUSH_REPLICATION " + TENANT + " "
                + TIMELINE.toUpperCase() + " 2/5000028 (system_id '7381234567890123456', wal_seg_size '16777216', "
                + "pg_version '160004', extra 'ignored')");
        assertEquals(TENANT, push.tenantHex());
        assertEquals(TIMELINE, push.timelineHex());
        assertEquals(Lsn.parse("2/5000028"), push.commitLsn());
        assertEquals(Map.of("system_id", "7381234567890123456", "wal_seg_size", "16777216", "pg_version", "160004",
                "extra", "ignored"), push.options());
        assertEquals(List.of("system_id", "wal_seg_size", "pg_version", "extra"), List.copyOf(push.options().keySet()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"START_PUSH_REPLICATION", "START_PUSH_REPLICATION " + TENANT,
            "START_PUSH_REPLICATION " + TENANT + " " + TIMELINE, "START_PUSH_REPLICATION abc " + TIMELINE + " 0/0",
            "START_PUSH_REPLICATION " + TENANT + " " + TIMELINE + "0 0/0",
            "START_PUSH_REPLICATION " + TENANT + " " + TIMELINE + " 0/0 junk",
            "START_PUSH_REPLICATION " + TENANT + " ge200bd42b49cc1814412c7e592dd6e9 0/0"})
    void malformedStartPushReplicationIsASyntaxError(String sql) {
        assertSyntaxError(sql);
    }

    @Test
    void simpleCommands() {
        assertEquals(new IdentifySystem(), ReplicationCommand.parse("IDENTIFY_SYSTEM"));
        assertEquals(new IdentifySystem(), ReplicationCommand.parse(" identify_system ; "));
        assertEquals(new TimelineStatus(), ReplicationCommand.parse("TIMELINE_STATUS"));
        assertEquals(new ReplicationCommand.TimelineConsumers(), ReplicationCommand.parse("timeline_consumers;"));
        assertEquals(new ReplicationCommand.ClusterStatus(), ReplicationCommand.parse("cluster_status;"));
        assertEquals(new Show("wal_segment_size"), ReplicationCommand.parse("SHOW WAL_SEGMENT_SIZE"));
        assertEquals(new Show("neon.tenant_id"), ReplicationCommand.parse("show neon.tenant_id;"));
        assertEquals(new TimelineHistory(1), ReplicationCommand.parse("TIMELINE_HISTORY 1"));
        assertEquals(new ReplicationCommand.TimelineState(), ReplicationCommand.parse("timeline_state;"));
        assertEquals(new ReplicationCommand.PullTimeline(null), ReplicationCommand.parse("PULL_TIMELINE"));
        assertEquals(new ReplicationCommand.PullTimeline("10.0.0.2:5454"),
                ReplicationCommand.parse("pull_timeline (from '10.0.0.2:5454')"));
        assertEquals(new Empty(), ReplicationCommand.parse(""));
        assertEquals(new Empty(), ReplicationCommand.parse(" \n\t; "));
    }

    @ParameterizedTest
    @ValueSource(strings = {"SHOW", "SHOW a b", "SHOW 'x'", "TIMELINE_HISTORY", "TIMELINE_HISTORY -1",
            "TIMELINE_STATUS now", "IDENTIFY_SYSTEM;;", "CLUSTER_STATUS all", "TIMELINE_STATE x",
            "PULL_TIMELINE (donor 'a:1')", "PULL_TIMELINE from", "PULL_TIMELINE (from '')"})
    void malformedSimpleCommandsAreSyntaxErrors(String sql) {
        assertSyntaxError(sql);
    }

    @Test
    void otherCommandsAndPlainSqlAreUnsupported() {
        assertEquals(new Unsupported("CREATE_REPLICATION_SLOT"),
                ReplicationCommand.parse("CREATE_REPLICATION_SLOT s PHYSICAL RESERVE_WAL"));
        assertEquals(new Unsupported("DROP_REPLICATION_SLOT"), ReplicationCommand.parse("drop_replication_slot s"));
        assertEquals(new Unsupported("READ_REPLICATION_SLOT"), ReplicationCommand.parse("READ_REPLICATION_SLOT s"));
        assertEquals(new Unsupported("BASE_BACKUP"), ReplicationCommand.parse("BASE_BACKUP (LABEL 'x')"));
        assertEquals(new Unsupported("SELECT"), ReplicationCommand.parse("select pg_current_wal_lsn();"));
        assertEquals(new Unsupported("SET"), ReplicationCommand.parse("SET datestyle = ISO"));
        assertEquals(new Unsupported("("), ReplicationCommand.parse("(SELECT 1)"));
    }

    @Test
    void recordsRefuseInvalidValuesWhenBuiltByHand() {
        assertThrows(IllegalArgumentException.class, () -> new TimelineHistory(0));
        assertThrows(IllegalArgumentException.class, () -> new StartWalPush(Map.of("proto_version", "x")));
        assertThrows(IllegalArgumentException.class,
                () -> new StartReplication(null, true, Lsn.INVALID, null, -1L));
        assertThrows(IllegalArgumentException.class,
                () -> new StartPushReplication("ab", TIMELINE, Lsn.INVALID, Map.of()));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void arbitraryTextParsesOrFailsWithProtocolException(long seed) {
        Seeds.check(seed, gen -> {
            String sql = query(gen);
            try {
                ReplicationCommand.parse(sql);
            } catch (ProtocolException e) {
                assertEquals(SqlState.SYNTAX_ERROR, e.sqlState(), sql);
            }
        });
    }

    /** Arbitrary text, and arbitrary text behind each command keyword so the argument parsers are reached. */
    private static String query(Gen gen) {
        String keyword = gen.of("", "IDENTIFY_SYSTEM", "TIMELINE_STATUS", "SHOW ", "TIMELINE_HISTORY ",
                "START_WAL_PUSH", "START_REPLICATION ", "START_REPLICATION SLOT s ", "START_REPLICATION 0/0 ",
                "START_PUSH_REPLICATION " + TENANT + " " + TIMELINE + " ", "START_PUSH_REPLICATION " + TENANT + " ",
                "ADD_DOWNSTREAM ", "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', ",
                "REMOVE_DOWNSTREAM ", "LIST_DOWNSTREAMS");
        String tail = gen.bool() ? gen.anyString(60)
                : gen.string(60, " \t();,='\"/0123456789abcdefABCDEFxSLOTPHYSICALTIMELINEtermhostport");
        return keyword + tail;
    }

    private static ProtocolException assertSyntaxError(String sql) {
        ProtocolException e = assertThrows(ProtocolException.class, () -> ReplicationCommand.parse(sql), sql);
        assertEquals(SqlState.SYNTAX_ERROR, e.sqlState(), sql);
        return e;
    }
}
