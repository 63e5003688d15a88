package dev.walkeeper.persistence.journal;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * The journal's live content in memory: per persistence id its undeleted events (serialized),
 * how far it was deleted and its highest sequence number. Walkeeper's journaled state is a few
 * events per timeline, so keeping it all here makes replay a map lookup and compaction a dump.
 *
 * <p>Not thread-safe: owned by the journal's I/O thread.
 */
final class JournalIndex {

    private final Map<String, Stream> streams = new HashMap<>();

    /** Applies a record that is durable in the file. */
    void apply(JournalRecord record) {
        Stream stream = streams.computeIfAbsent(record.persistenceId(), id -> new Stream());
        if (record instanceof JournalRecord.Events events) {
            for (JournalRecord.Event event : events.events()) {
                stream.events.put(event.sequenceNr(), event.serialized());
                stream.highest = Math.max(stream.highest, event.sequenceNr());
            }
        } else if (record instanceof JournalRecord.Deletion deletion) {
            stream.events.headMap(deletion.toSequenceNr(), true).clear();
            stream.deletedTo = Math.max(stream.deletedTo, deletion.toSequenceNr());
            stream.highest = Math.max(stream.highest, deletion.toSequenceNr());
        }
    }

    /** The highest sequence number ever written for {@code persistenceId}, deleted or not; 0 if none. */
    long highestSequenceNr(String persistenceId) {
        Stream stream = streams.get(persistenceId);
        return stream == null ? 0 : stream.highest;
    }

    /**
     * The deletion {@code deleteMessagesTo(persistenceId, toSequenceNr)} amounts to, or null if it
     * deletes nothing new. Capped at the highest sequence number, so that events written later
     * (with higher numbers) are never hidden by an over-reaching deletion.
     */
    JournalRecord.Deletion deletion(String persistenceId, long toSequenceNr) {
        Stream stream = streams.get(persistenceId);
        if (stream == null) {
            return null;
        }
        long to = Math.min(toSequenceNr, stream.highest);
        return to > stream.deletedTo ? new JournalRecord.Deletion(persistenceId, to) : null;
    }

    /** Live events in {@code [from, to]}, ascending, at most {@code max} of them. */
    List<byte[]> replay(String persistenceId, long from, long to, long max) {
        Stream stream = streams.get(persistenceId);
        List<byte[]> replayed = new ArrayList<>();
        if (stream == null || from > to) {
            return replayed;
        }
        for (byte[] event : stream.events.subMap(from, true, to, true).values()) {
            if (replayed.size() >= max) {
                break;
            }
            replayed.add(event);
        }
        return replayed;
    }

    /**
     * Records that rebuild exactly this index: per persistence id its deletion (which also keeps
     * the highest sequence number of a fully deleted stream) and one record per live event.
     */
    List<JournalRecord> liveRecords() {
        List<JournalRecord> records = new ArrayList<>();
        streams.forEach((persistenceId, stream) -> {
            if (stream.deletedTo > 0) {
                records.add(new JournalRecord.Deletion(persistenceId, stream.deletedTo));
            }
            stream.events.forEach((sequenceNr, serialized) -> records.add(new JournalRecord.Events(
                    persistenceId, List.of(new JournalRecord.Event(sequenceNr, serialized)))));
        });
        return records;
    }

    private static final class Stream {
        final NavigableMap<Long, byte[]> events = new TreeMap<>();
        long deletedTo;
        long highest;
    }
}
