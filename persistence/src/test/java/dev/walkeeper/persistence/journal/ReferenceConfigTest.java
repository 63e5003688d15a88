package dev.walkeeper.persistence.journal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.jackson.JacksonCborSerializer;
import org.junit.jupiter.api.Test;

/** The defaults that reference.conf promises. */
class ReferenceConfigTest {

    @Test
    void theFilePluginsAreTheDefaultsInsideTheDataDirectory() {
        Config config = ConfigFactory.load(ConfigFactory.parseMap(Map.of("walkeeper.data-dir", "/srv/walkeeper")));
        assertEquals("walkeeper.persistence.file-journal", config.getString("pekko.persistence.journal.plugin"));
        assertEquals("walkeeper.persistence.file-snapshot-store", config.getString("pekko.persistence.snapshot-store.plugin"));
        assertEquals("/srv/walkeeper/journal", config.getString("walkeeper.persistence.file-journal.dir"));
        assertEquals("/srv/walkeeper/snapshots", config.getString("walkeeper.persistence.file-snapshot-store.dir"));
        assertEquals(8L << 20, config.getBytes("walkeeper.persistence.file-journal.compaction-threshold"));
    }

    @Test
    void theJdbcAlternativeSharesOnePostgresPool() {
        Config config = ConfigFactory.load(ConfigFactory.parseMap(Map.of(
                "walkeeper.persistence.jdbc.url", "jdbc:postgresql://db:5432/wk",
                "walkeeper.persistence.jdbc.max-connections", 2)));
        for (String plugin : List.of("jdbc-journal", "jdbc-snapshot-store")) {
            assertEquals(config.getString(plugin + ".class"), config.getString("walkeeper.persistence." + plugin + ".class"));
            assertEquals("walkeeper", config.getString("walkeeper.persistence." + plugin + ".use-shared-db"));
        }
        Config pool = config.getConfig("pekko-persistence-jdbc.shared-databases.walkeeper");
        assertEquals("slick.jdbc.PostgresProfile$", pool.getString("profile"));
        assertEquals("jdbc:postgresql://db:5432/wk", pool.getString("db.url"));
        assertEquals(2, pool.getInt("db.maxConnections"));
    }

    @Test
    void cborSerializableIsBoundToJacksonCbor() {
        ActorTestKit kit = ActorTestKit.create("serialization-test");
        try {
            assertInstanceOf(JacksonCborSerializer.class,
                    SerializationExtension.get(kit.system()).findSerializerFor(new Ledger.Appended("x")));
        } finally {
            kit.shutdownTestKit();
        }
    }
}
