package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import dev.walkeeper.cluster.NodeSettings;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** conf/walkeeper.conf of the distribution archive (src/dist/conf; tests run in the module's directory). */
class ExampleConfigTest {

    private static final Config EXAMPLE = ConfigFactory.parseFile(Path.of("src/dist/conf/walkeeper.conf").toFile(),
            ConfigParseOptions.defaults().setAllowMissing(false));

    @Test
    void everySettingItMakesIsOneTheNodeKnows() {
        // HOCON takes a misspelt key silently, and the node would run on the default instead.
        Config reference = ConfigFactory.defaultReference();
        for (Map.Entry<String, ?> setting : EXAMPLE.entrySet()) {
            assertTrue(reference.hasPathOrNull(setting.getKey()), "not a walkeeper setting: " + setting.getKey());
        }
    }

    @Test
    void itConfiguresASingleLoopbackNodeKeepingItsDataInVarLib() {
        NodeSettings settings = NodeSettings.from(EXAMPLE.withFallback(ConfigFactory.defaultReference()).resolve());
        assertEquals(1, settings.nodeId());
        assertEquals(Path.of("/var/lib/walkeeper"), settings.dataDir());
        assertEquals("127.0.0.1", settings.host());
        assertEquals(5454, settings.port());
        assertEquals(List.of(), EXAMPLE.getList("walkeeper.cluster.seed-nodes").unwrapped());
    }
}
