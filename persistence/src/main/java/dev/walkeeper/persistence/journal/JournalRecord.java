package dev.walkeeper.persistence.journal;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * One record of the journal file, the unit that is framed and checksummed. Persistence id and
 * sequence numbers are kept outside the serialized events so the index can be rebuilt at start
 * without deserializing a single payload.
 */
sealed interface JournalRecord {

    byte EVENTS = 1;
    byte DELETION = 2;

    String persistenceId();

    /** The record's body, as framed in the file. */
    byte[] encode();

    /**
     * The events of one {@code AtomicWrite}: a single record, so a crash keeps all of them or
     * none, as the journal SPI demands.
     */
    record Events(String persistenceId, List<Event> events) implements JournalRecord {
        public Events {
            events = List.copyOf(events);
            if (events.isEmpty()) {
                throw new IllegalArgumentException("no events for " + persistenceId);
            }
        }

        @Override
        public byte[] encode() {
            return JournalRecord.encode(out -> {
                out.writeByte(EVENTS);
                writeString(out, persistenceId);
                out.writeInt(events.size());
                for (Event event : events) {
                    out.writeLong(event.sequenceNr());
                    out.writeInt(event.serialized().length);
                    out.write(event.serialized());
                }
            });
        }
    }

    /** A serialized {@code PersistentRepr} and its sequence number. */
    record Event(long sequenceNr, byte[] serialized) {
    }

    /**
     * {@code deleteMessagesTo}: events up to {@code toSequenceNr} are gone. Also a lower bound of
     * the highest sequence number, which must survive even when every event is deleted.
     */
    record Deletion(String persistenceId, long toSequenceNr) implements JournalRecord {
        @Override
        public byte[] encode() {
            return JournalRecord.encode(out -> {
                out.writeByte(DELETION);
                writeString(out, persistenceId);
                out.writeLong(toSequenceNr);
            });
        }
    }

    /**
     * Decodes a body whose checksum already matched.
     *
     * @throws IOException if it is not a well-formed record
     */
    static JournalRecord decode(byte[] body) throws IOException {
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(body));
        JournalRecord record = switch (in.readByte()) {
            case EVENTS -> {
                String persistenceId = readString(in);
                int count = in.readInt();
                if (count <= 0 || count > body.length) {
                    throw new IOException("event count " + count);
                }
                List<Event> events = new ArrayList<>(count);
                for (int i = 0; i < count; i++) {
                    long sequenceNr = in.readLong();
                    events.add(new Event(sequenceNr, readBytes(in)));
                }
                yield new Events(persistenceId, events);
            }
            case DELETION -> new Deletion(readString(in), in.readLong());
            default -> throw new IOException("unknown record type " + body[0]);
        };
        if (in.available() != 0) {
            throw new IOException(in.available() + " bytes after the record");
        }
        return record;
    }

    private static byte[] encode(Writer writer) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (DataOutputStream out = new DataOutputStream(bytes)) {
            writer.write(out);
        } catch (IOException e) {
            throw new UncheckedIOException("writing to memory cannot fail", e);
        }
        return bytes.toByteArray();
    }

    private static void writeString(DataOutputStream out, String value) throws IOException {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        out.writeInt(utf8.length);
        out.write(utf8);
    }

    private static String readString(DataInputStream in) throws IOException {
        return new String(readBytes(in), StandardCharsets.UTF_8);
    }

    private static byte[] readBytes(DataInputStream in) throws IOException {
        int length = in.readInt();
        if (length < 0 || length > in.available()) {
            throw new IOException("field length " + length + " with " + in.available() + " bytes left");
        }
        return in.readNBytes(length);
    }

    @FunctionalInterface
    interface Writer {
        void write(DataOutputStream out) throws IOException;
    }
}
