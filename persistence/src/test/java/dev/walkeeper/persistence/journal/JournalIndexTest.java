package dev.walkeeper.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Replay bounds, deletion and what compaction keeps. */
class JournalIndexTest {

    private static JournalRecord.Events events(String persistenceId, long from, long to) {
        List<JournalRecord.Event> events = new ArrayList<>();
        for (long n = from; n <= to; n++) {
            events.add(new JournalRecord.Event(n, Long.toString(n).getBytes(StandardCharsets.US_ASCII)));
        }
        return new JournalRecord.Events(persistenceId, events);
    }

    private static List<String> replay(JournalIndex index, String persistenceId, long from, long to, long max) {
        return index.replay(persistenceId, from, to, max).stream()
                .map(bytes -> new String(bytes, StandardCharsets.US_ASCII)).toList();
    }

    @Test
    void replayRespectsFromToAndMax() {
        JournalIndex index = new JournalIndex();
        index.apply(events("a", 1, 10));
        index.apply(events("b", 1, 2));

        assertEquals(List.of("3", "4", "5", "6", "7", "8"), replay(index, "a", 3, 8, Long.MAX_VALUE));
        assertEquals(List.of("3", "4"), replay(index, "a", 3, 8, 2));
        assertEquals(List.of(), replay(index, "a", 3, 8, 0));
        assertEquals(List.of("10"), replay(index, "a", 10, Long.MAX_VALUE, Long.MAX_VALUE));
        assertEquals(List.of(), replay(index, "a", 11, Long.MAX_VALUE, Long.MAX_VALUE));
        assertEquals(List.of(), replay(index, "unknown", 1, Long.MAX_VALUE, Long.MAX_VALUE));
        assertEquals(10, index.highestSequenceNr("a"));
        assertEquals(0, index.highestSequenceNr("unknown"));
    }

    @Test
    void deletionIsCappedAtTheHighestSequenceNrWhichSurvivesIt() {
        JournalIndex index = new JournalIndex();
        index.apply(events("a", 1, 5));

        JournalRecord.Deletion deletion = index.deletion("a", Long.MAX_VALUE);
        assertEquals(new JournalRecord.Deletion("a", 5), deletion);
        index.apply(deletion);
        assertEquals(List.of(), replay(index, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
        assertEquals(5, index.highestSequenceNr("a"));
        assertNull(index.deletion("a", 4), "nothing new to delete");
        assertNull(index.deletion("unknown", 3));

        index.apply(events("a", 6, 6));
        assertEquals(List.of("6"), replay(index, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
    }

    @Test
    void liveRecordsRebuildTheSameIndex() {
        JournalIndex index = new JournalIndex();
        index.apply(events("a", 1, 5));
        index.apply(new JournalRecord.Deletion("a", 3));
        index.apply(events("gone", 1, 2));
        index.apply(new JournalRecord.Deletion("gone", 2));
        index.apply(events("kept", 1, 2));

        JournalIndex rebuilt = new JournalIndex();
        List<JournalRecord> live = index.liveRecords();
        live.forEach(rebuilt::apply);

        assertEquals(6, live.size(), "two deletions and the four undeleted events: " + live);
        for (String id : List.of("a", "gone", "kept")) {
            assertEquals(index.highestSequenceNr(id), rebuilt.highestSequenceNr(id), id);
            assertEquals(replay(index, id, 1, Long.MAX_VALUE, Long.MAX_VALUE),
                    replay(rebuilt, id, 1, Long.MAX_VALUE, Long.MAX_VALUE), id);
        }
        assertEquals(List.of("4", "5"), replay(rebuilt, "a", 1, Long.MAX_VALUE, Long.MAX_VALUE));
    }
}
