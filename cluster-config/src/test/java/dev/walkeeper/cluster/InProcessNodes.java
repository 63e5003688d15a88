package dev.walkeeper.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.StreamSupport;
import org.apache.pekko.cluster.Member;

/** What the tests that start whole {@link WalkeeperNode}s in this JVM share. */
final class InProcessNodes {
    private InProcessNodes() {}

    /** A node on free ports with its own data directory, and {@code extra} HOCON over that. */
    static Config config(Path dataDir, String extra) {
        return ConfigFactory.load(ConfigFactory.parseString(extra).withFallback(ConfigFactory.parseString(
                "walkeeper { listen.port = 0, data-dir = \"" + dataDir.toString().replace("\\", "/") + "\" }")));
    }

    /** The members as {@code node} sees them now. */
    static List<Member> members(WalkeeperNode node) {
        return StreamSupport.stream(node.cluster().state().getMembers().spliterator(), false).toList();
    }
}
