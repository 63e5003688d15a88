package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.consensus.ServerInfo;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Executor;

/** Opens a timeline's WAL store; tests substitute in-memory stores. */
public interface WalStores {

    /**
     * Opens (creating if needed) the WAL of {@code id}, finding the end of WAL by decoding forward
     * from {@code scanFrom}, a known record boundary (or {@link Lsn#INVALID}); the store's
     * background file work (its spare segments) runs on {@code background}.
     */
    WalStore open(TenantTimelineId id, ServerInfo server, Lsn scanFrom, Executor background) throws IOException;

    /** Where the WAL of {@code id} is stored, for serving it to replicas. */
    Path directory(TenantTimelineId id);
}
