package dev.walkeeper.actors.trace;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The trace file of one process: a header (magic, version, source, clock reference, dropped
 * count, the stage names the events refer to by index) and the events, each stage index (byte),
 * node (byte), LSN (long) and nanoTime (long), in a {@link DataOutputStream}. Stages are stored
 * by name in the header, so a file stays readable when stages are added or reordered.
 */
public final class TraceFile {
    private static final int MAGIC = 0x574b5452; // "WKTR"
    private static final int VERSION = 1;
    private static final int EVENT_BYTES = 1 + 1 + 8 + 8;

    private TraceFile() {}

    /** Writes to a temporary file first and moves it in place, so a reader never sees half a file. */
    public static void write(TraceLog log, Path file) throws IOException {
        Path parent = file.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temporary = parent.resolve(file.getFileName() + ".tmp");
        Stage[] stages = Stage.values();
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(temporary),
                1 << 16))) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            out.writeUTF(log.source());
            out.writeLong(log.clockNanos());
            out.writeLong(log.clockEpochNanos());
            out.writeLong(log.dropped());
            out.writeByte(stages.length);
            for (Stage stage : stages) {
                out.writeUTF(stage.name());
            }
            out.writeInt(log.size());
            for (int i = 0; i < log.size(); i++) {
                out.writeByte(log.stage(i).ordinal());
                out.writeByte(log.node(i));
                out.writeLong(log.lsn(i));
                out.writeLong(log.nanos(i));
            }
        }
        Files.move(temporary, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    public static TraceLog read(Path file) throws IOException {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            if (in.readInt() != MAGIC) {
                throw new IOException(file + ": not a walkeeper trace file");
            }
            int version = in.readInt();
            if (version != VERSION) {
                throw new IOException(file + ": trace file version " + version + ", expected " + VERSION);
            }
            String source = in.readUTF();
            long clockNanos = in.readLong();
            long clockEpochNanos = in.readLong();
            long dropped = in.readLong();
            Map<String, Stage> known = new HashMap<>();
            for (Stage stage : Stage.values()) {
                known.put(stage.name(), stage);
            }
            int stageCount = in.readUnsignedByte();
            List<Stage> stageTable = new ArrayList<>(stageCount);
            for (int i = 0; i < stageCount; i++) {
                String name = in.readUTF();
                Stage stage = known.get(name);
                if (stage == null) {
                    throw new IOException(file + ": unknown stage " + name);
                }
                stageTable.add(stage);
            }
            int count = in.readInt();
            if (count < 0 || (long) count * EVENT_BYTES > Files.size(file)) {
                throw new IOException(file + ": event count " + count + " does not fit the file");
            }
            Stage[] stages = new Stage[count];
            byte[] nodes = new byte[count];
            long[] lsns = new long[count];
            long[] nanos = new long[count];
            for (int i = 0; i < count; i++) {
                int stage = in.readUnsignedByte();
                if (stage >= stageTable.size()) {
                    throw new IOException(file + ": event " + i + " has stage index " + stage);
                }
                stages[i] = stageTable.get(stage);
                nodes[i] = in.readByte();
                lsns[i] = in.readLong();
                nanos[i] = in.readLong();
            }
            return new TraceLog(source, clockNanos, clockEpochNanos, dropped, stages, nodes, lsns, nanos);
        }
    }
}
