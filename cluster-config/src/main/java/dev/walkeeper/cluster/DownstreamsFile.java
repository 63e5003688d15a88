package dev.walkeeper.cluster;

import dev.walkeeper.persistence.journal.AtomicFile;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;
import java.util.zip.CRC32C;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;

/**
 * The replicated map of registered downstreams as a node stores it in its data directory: the
 * CRDT itself (Pekko's own serialization of it), so that merging it back at start keeps removals
 * that this node had seen. Format: magic, serializer id, manifest, length, bytes, CRC-32C of all
 * before it; replaced atomically and fsynced on each change.
 */
final class DownstreamsFile {
    private static final int MAGIC = 0x574b4453; // "WKDS"

    private final Path file;
    private final Serialization serialization;

    DownstreamsFile(Path file, ActorSystem<?> system) {
        this.file = file;
        this.serialization = SerializationExtension.get(system.classicSystem());
    }

    void write(LWWMap<String, DownstreamEntry> map) throws IOException {
        Serializer serializer = serialization.findSerializerFor(map);
        byte[] bytes = serializer.toBinary(map);
        ByteArrayOutputStream buffer = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(buffer);
        out.writeInt(MAGIC);
        out.writeInt(serializer.identifier());
        out.writeUTF(Serializers.manifestFor(serializer, map));
        out.writeInt(bytes.length);
        out.write(bytes);
        CRC32C crc = new CRC32C();
        crc.update(buffer.toByteArray());
        out.writeInt((int) crc.getValue());
        AtomicFile.write(file, buffer.toByteArray());
    }

    /** What was stored, or empty when nothing was. */
    @SuppressWarnings("unchecked")
    Optional<LWWMap<String, DownstreamEntry>> read() throws IOException {
        byte[] content;
        try {
            content = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        }
        if (content.length < 4) {
            throw new IOException(file + " is truncated");
        }
        CRC32C crc = new CRC32C();
        crc.update(content, 0, content.length - 4);
        DataInputStream in = new DataInputStream(new ByteArrayInputStream(content));
        if (in.readInt() != MAGIC) {
            throw new IOException(file + " is no walkeeper downstreams file");
        }
        int serializer = in.readInt();
        String manifest = in.readUTF();
        byte[] bytes = new byte[in.readInt()];
        in.readFully(bytes);
        if (in.readInt() != (int) crc.getValue()) {
            throw new IOException(file + " is corrupt (checksum)");
        }
        return Optional.of((LWWMap<String, DownstreamEntry>) serialization.deserialize(bytes, serializer, manifest).get());
    }
}
