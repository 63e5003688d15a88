package dev.walkeeper.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.walkeeper.actors.consensus.ServerInfo;
import dev.walkeeper.actors.timeline.WalStores;
import dev.walkeeper.persistence.journal.JdbcSchema;
import dev.walkeeper.persistence.wal.FileSync;
import dev.walkeeper.persistence.wal.SegmentedWalStore;
import dev.walkeeper.persistence.wal.WalStore;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.wal.WalFormat;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Executor;
import java.sql.SQLException;

/** Where a node keeps its WAL and its acceptor state: the same for each of its incarnations. */
final class NodeStorage {
    private static final String JDBC_JOURNAL = "walkeeper.persistence.jdbc-journal";

    private NodeStorage() {}

    /** Each timeline's WAL lives in {@code <data>/<tenant>/<timeline>/}, in PostgreSQL-named segments. */
    static WalStores walStores(Path dataDir) {
        return new WalStores() {
            @Override
            public WalStore open(TenantTimelineId id, ServerInfo server, Lsn scanFrom, Executor background)
                    throws IOException {
                return SegmentedWalStore.open(directory(id),
                        new WalFormat(server.pgVersion(), server.systemId(), server.walSegSize(), 1), scanFrom,
                        FileSync.FORCE, background);
            }

            @Override
            public Path directory(TenantTimelineId id) {
                return dataDir.resolve(id.tenantId()).resolve(id.timelineId());
            }
        };
    }

    /**
     * The file plugins are the default even if pekko-persistence's own reference.conf (which
     * names none) came first on the class path; a configured plugin (e.g. the JDBC journal) is kept.
     */
    static Config withJournal(Config config) {
        Config storage = ConfigFactory.empty();
        if (config.getString("pekko.persistence.journal.plugin").isEmpty()) {
            storage = storage.withValue("pekko.persistence.journal.plugin",
                    ConfigValueFactory.fromAnyRef("walkeeper.persistence.file-journal"));
        }
        if (config.getString("pekko.persistence.snapshot-store.plugin").isEmpty()) {
            storage = storage.withValue("pekko.persistence.snapshot-store.plugin",
                    ConfigValueFactory.fromAnyRef("walkeeper.persistence.file-snapshot-store"));
        }
        return storage.withFallback(config);
    }

    /**
     * The PostgreSQL journal needs its tables: created (idempotently) before the node starts. A
     * database that cannot be reached or refuses the login is the operator's to fix.
     */
    static void prepareJdbcJournal(Config config) {
        if (!JDBC_JOURNAL.equals(config.getString("pekko.persistence.journal.plugin"))) {
            return;
        }
        Config jdbc = config.getConfig("walkeeper.persistence.jdbc");
        try {
            JdbcSchema.apply(jdbc.getString("url"), jdbc.getString("user"), jdbc.getString("password"));
        } catch (SQLException e) {
            throw new StartupException(StartupException.Reason.JOURNAL_UNAVAILABLE, "cannot prepare the PostgreSQL "
                    + "journal at " + jdbc.getString("url") + ": " + e.getMessage() + "; check that PostgreSQL runs "
                    + "there and walkeeper.persistence.jdbc.url, .user and .password", e);
        }
    }
}
