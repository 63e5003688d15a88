package dev.walkeeper.actors.consensus;

import java.io.IOException;

import dev.walkeeper.actors.timeline.WalStores;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/** In-memory WAL per timeline that outlives actor incarnations, for timeline actor tests. */
public final class InMemoryWalStores implements WalStores {
    private final Map<TenantTimelineId, InMemoryWalStore> stores = new HashMap<>();
    private final InMemoryWalStore.Sync sync;

    public InMemoryWalStores() {
        this(InMemoryWalStore.Sync.NONE);
    }

    /** Stores whose flush jobs run {@code sync} as their "fsync": to hold, observe or fail it. */
    public InMemoryWalStores(InMemoryWalStore.Sync sync) {
        this.sync = sync;
    }

    @Override
    public synchronized WalStore open(TenantTimelineId id, ServerInfo server, Lsn scanFrom,
                                      java.util.concurrent.Executor background) {
        return stores.computeIfAbsent(id, i -> new InMemoryWalStore(sync));
    }

    @Override
    public java.nio.file.Path directory(TenantTimelineId id) {
        return java.nio.file.Path.of("in-memory", id.tenantId(), id.timelineId());
    }

    /** The store of a timeline, as its tests inspect it. */
    public synchronized Stats store(TenantTimelineId id) {
        return new Stats(stores.get(id).flushes.get());
    }

    public record Stats(int flushes) {}

    /** The next write to the WAL of {@code id} fails with an I/O error. */
    public synchronized void failNextWrite(TenantTimelineId id, IOException failure) {
        stores.get(id).failNextWrite(failure);
    }

    /** What the stores hold after a crash: flushed WAL only. */
    public synchronized InMemoryWalStores rebooted() {
        InMemoryWalStores after = new InMemoryWalStores(sync);
        stores.forEach((id, store) -> after.stores.put(id, store.reboot()));
        return after;
    }
}
