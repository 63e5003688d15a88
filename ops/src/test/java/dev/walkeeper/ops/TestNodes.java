package dev.walkeeper.ops;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.walkeeper.cluster.WalkeeperNode;
import java.io.IOException;
import java.nio.file.Path;

/** Starts in-process nodes on a free loopback port with a given extra configuration. */
final class TestNodes {
    private TestNodes() {}

    static WalkeeperNode start(Path dataDir, String extraHocon) throws IOException {
        Config config = ConfigFactory.load(ConfigFactory.parseString(extraHocon)
                .withFallback(ConfigFactory.parseString(
                        "walkeeper.listen.host = \"127.0.0.1\"\nwalkeeper.listen.port = 0\nwalkeeper.data-dir = \""
                                + dataDir.toString().replace("\\", "/") + "\"")));
        return WalkeeperNode.start(config);
    }
}
