package dev.walkeeper.protocol.safekeeper;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.ProtocolException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TimelineSnapshotTest {
    private static final TenantTimelineId ID = new TenantTimelineId("11111111111111111111111111111111",
            "22222222222222222222222222222222");

    private static Map<String, String> row(TimelineSnapshot snapshot) {
        Map<String, String> row = new HashMap<>();
        List<String> values = snapshot.toRow();
        for (int i = 0; i < values.size(); i++) {
            row.put(TimelineSnapshot.COLUMNS.get(i), values.get(i));
        }
        return row;
    }

    @Test
    void aRowReadsBackAsTheSameSnapshot() {
        TimelineSnapshot snapshot = new TimelineSnapshot(ID, 150018, -7L, 16 << 20,
                new MembershipConfiguration(3, List.of(new Member(1, "a", 5454), new Member(2, "b", 5455)), List.of()),
                -2L, new TermHistory(List.of(new TermSwitch(1, Lsn.parse("0/1000028")),
                        new TermSwitch(4, Lsn.parse("1/2345678")))),
                Lsn.parse("0/1000028"), Lsn.parse("0/1000028"), Lsn.parse("1/3000000"), Lsn.parse("1/2FFFFF0"),
                Lsn.parse("0/1000028"));
        assertEquals(snapshot, TimelineSnapshot.fromRow(row(snapshot)));
        assertEquals(4, snapshot.lastLogTerm());
        TimelineSnapshot empty = new TimelineSnapshot(ID, 150018, 0, 16 << 20, MembershipConfiguration.EMPTY, 0,
                TermHistory.EMPTY, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID, Lsn.INVALID);
        assertEquals(empty, TimelineSnapshot.fromRow(row(empty)));
        assertEquals(0, empty.lastLogTerm());
    }

    @Test
    void aMalformedRowIsAProtocolError() {
        TimelineSnapshot snapshot = new TimelineSnapshot(ID, 150018, 1, 16 << 20, MembershipConfiguration.EMPTY, 1,
                new TermHistory(List.of(new TermSwitch(1, Lsn.parse("0/1000028")))), Lsn.parse("0/1000028"),
                Lsn.parse("0/1000028"), Lsn.parse("0/2000000"), Lsn.parse("0/2000000"), Lsn.INVALID);
        for (String column : TimelineSnapshot.COLUMNS) {
            Map<String, String> missing = row(snapshot);
            missing.remove(column);
            assertThrows(ProtocolException.class, () -> TimelineSnapshot.fromRow(missing), column);
        }
        for (String[] bad : new String[][] {{"term_history", "1:0/1"}, {"flush_lsn", "12"}, {"mconf", "00"},
                {"mconf", "zz"}, {"term", "-1"}, {"tenant_id", "xyz"}}) {
            Map<String, String> row = row(snapshot);
            row.put(bad[0], bad[1]);
            assertThrows(ProtocolException.class, () -> TimelineSnapshot.fromRow(row), bad[0] + "=" + bad[1]);
        }
    }
}
