package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.pg.ReplicationCommand.AddDownstream;
import dev.walkeeper.protocol.pg.ReplicationCommand.ListDownstreams;
import dev.walkeeper.protocol.pg.ReplicationCommand.RemoveDownstream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** ADD_DOWNSTREAM, REMOVE_DOWNSTREAM and LIST_DOWNSTREAMS as {@link ReplicationCommand#parse} reads them. */
class DownstreamCommandTest {
    private static final String TENANT = "9ef87a5bf0d92544f6fafeeb3239695c";
    private static final String TIMELINE = "de200bd42b49cc1814412c7e592dd6e9";

    @Test
    void addWithEveryOption() {
        var add = (AddDownstream) ReplicationCommand.parse("add_downstream 'archive-1' (tenant_id '" + TENANT.toUpperCase()
                + "', timeline_id '" + TIMELINE + "', host 'db.example', port '5433', user 'pusher');");
        assertEquals(new AddDownstream("archive-1", TENANT, TIMELINE, "db.example", 5433, "pusher"), add);
    }

    @Test
    void addWithUnquotedValuesAndTheDefaultUser() {
        var add = (AddDownstream) ReplicationCommand.parse("ADD_DOWNSTREAM a.b_c (host=127.0.0.1, port=5455, tenant_id="
                + TENANT + ", timeline_id=" + TIMELINE + ")");
        assertEquals("a.b_c", add.name());
        assertEquals("walkeeper", add.user());
        assertEquals(5455, add.port());
    }

    @Test
    void removeAndList() {
        assertEquals(new RemoveDownstream("archive-1"), ReplicationCommand.parse("REMOVE_DOWNSTREAM 'archive-1'"));
        assertEquals(new RemoveDownstream("x"), ReplicationCommand.parse("remove_downstream x ;"));
        assertEquals(new ListDownstreams(), ReplicationCommand.parse("LIST_DOWNSTREAMS"));
    }

    @Test
    void aPasswordIsRefusedWithWhereToPutIt() {
        ProtocolException e = assertThrows(ProtocolException.class, () -> ReplicationCommand.parse(
                "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE
                        + "', host 'h', port '1', password 'secret')"));
        assertEquals(SqlState.SYNTAX_ERROR, e.sqlState());
        assertTrue(e.getMessage().contains("walkeeper.push.passwords"), e.getMessage());
        assertTrue(!e.getMessage().contains("secret"), e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "ADD_DOWNSTREAM",
            "ADD_DOWNSTREAM 'a'",
            "ADD_DOWNSTREAM 'a' ()",
            "ADD_DOWNSTREAM 'a' (host 'h', port '5433', timeline_id '" + TIMELINE + "')",
            "ADD_DOWNSTREAM 'a' (host 'h', port '5433', tenant_id '" + TENANT + "')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', port '5433')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h', port '0')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h', port '65536')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h', port '-1')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h', port 'x')",
            "ADD_DOWNSTREAM 'a' (tenant_id 'zz', timeline_id '" + TIMELINE + "', host 'h', port '1')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h', port '1', x '1')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h', port '1', user '')",
            "ADD_DOWNSTREAM 'a' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h h', port '1')",
            "ADD_DOWNSTREAM 'bad name' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h', port '1')",
            "ADD_DOWNSTREAM '' (tenant_id '" + TENANT + "', timeline_id '" + TIMELINE + "', host 'h', port '1')",
            "ADD_DOWNSTREAM 'unterminated (host 'h')",
            "ADD_DOWNSTREAM 'a' host 'h'",
            "REMOVE_DOWNSTREAM",
            "REMOVE_DOWNSTREAM 'a' 'b'",
            "REMOVE_DOWNSTREAM 'a/b'",
            "LIST_DOWNSTREAMS now",
    })
    void malformedIsASyntaxError(String sql) {
        ProtocolException e = assertThrows(ProtocolException.class, () -> ReplicationCommand.parse(sql), sql);
        assertEquals(SqlState.SYNTAX_ERROR, e.sqlState(), sql);
    }

    @Test
    void recordsRefuseBadValuesBuiltByHand() {
        assertThrows(IllegalArgumentException.class, () -> new AddDownstream("a", TENANT, TIMELINE, "h", 0, "u"));
        assertThrows(IllegalArgumentException.class, () -> new AddDownstream("a".repeat(64), TENANT, TIMELINE, "h", 1, "u"));
        assertThrows(IllegalArgumentException.class, () -> new RemoveDownstream("a b"));
    }
}
