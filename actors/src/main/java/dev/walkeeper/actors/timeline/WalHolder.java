package dev.walkeeper.actors.timeline;

import dev.walkeeper.actors.consensus.AcceptorException;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import java.io.IOException;

/**
 * A timeline's WAL store, for its acceptor. A timeline's WAL can only be opened once the first
 * greeting told what it is (PostgreSQL version, segment size); until then the store is empty and
 * refuses writes — the greeting never touches WAL.
 */
final class WalHolder implements WalStore {
    private WalStore store;

    boolean isOpen() {
        return store != null;
    }

    void open(WalStore opened) {
        store = opened;
    }

    private WalStore store() {
        if (store == null) {
            throw new AcceptorException("proposer message before greeting");
        }
        return store;
    }

    @Override public boolean isEmpty() { return store == null || store.isEmpty(); }
    @Override public Lsn writeLsn() { return store == null ? Lsn.INVALID : store.writeLsn(); }
    @Override public Lsn writeRecordLsn() { return store == null ? Lsn.INVALID : store.writeRecordLsn(); }
    @Override public Lsn flushRecordLsn() { return store == null ? Lsn.INVALID : store.flushRecordLsn(); }
    @Override public void initialize(Lsn start) throws IOException { store().initialize(start); }
    @Override public void write(Lsn begin, ByteSlice bytes) throws IOException { store().write(begin, bytes); }
    @Override public void flush() throws IOException { if (store != null) { store.flush(); } }
    @Override public FlushJob prepareFlush() throws IOException { return store().prepareFlush(); }
    @Override public boolean completeFlush(FlushJob job) throws IOException { return store().completeFlush(job); }
    @Override public void truncate(Lsn end) throws IOException { store().truncate(end); }
    @Override public void close() throws IOException { if (store != null) { store.close(); } }
}
