package dev.walkeeper.cluster;

import static dev.walkeeper.cluster.InProcessNodes.config;
import static dev.walkeeper.cluster.InProcessNodes.members;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.persistence.DataDirectory;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.UniqueAddress;
import org.apache.pekko.cluster.typed.Down;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node the cluster downs (here an operator's Down, as the Split Brain Resolver's would be):
 * its actor system ends, and the node either comes back as a new incarnation in the same process,
 * or ends with {@link WalkeeperNode.Ending#DOWNED} when walkeeper.cluster.rejoin-after-downed is off.
 */
class RejoinAfterDownedTest {
    /** The old incarnation's removal, its ports' release and the new one's join. */
    private static final Duration REJOIN_TIMEOUT = Duration.ofSeconds(60);
    /** Only for its probes' awaitAssert; the nodes have their own actor systems. */
    private static final ActorTestKit testKit = ActorTestKit.create();

    @TempDir
    Path dir;

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }



    private static String seedOf(WalkeeperNode node) {
        Address a = node.cluster().selfMember().address();
        return "walkeeper.cluster.seed-nodes = [\"" + a.getHost().orElseThrow() + ":" + a.getPort().orElseThrow() + "\"]";
    }

    private static void awaitTwoUp(TestProbe<Void> probe, WalkeeperNode node) {
        probe.awaitAssert(REJOIN_TIMEOUT, () -> {
            List<Member> members = members(node);
            assertEquals(2, members.size(), members::toString);
            members.forEach(m -> assertEquals(MemberStatus.up(), m.status(), members::toString));
            return null;
        });
    }

    @Test
    void aDownedNodeRejoinsAsANewIncarnationOnTheSameAddressesAndServesAgain() throws Exception {
        TestProbe<Void> probe = testKit.createTestProbe();
        Path downedDir = dir.resolve("n2");
        try (WalkeeperNode seed = WalkeeperNode.start(config(dir.resolve("n1"), "walkeeper.node-id = 1"));
             WalkeeperNode node = WalkeeperNode.start(config(downedDir, "walkeeper.node-id = 2\n" + seedOf(seed)))) {
            awaitTwoUp(probe, seed);
            UniqueAddress first = node.cluster().selfMember().uniqueAddress();

            seed.cluster().manager().tell(new Down(first.address()));

            probe.awaitAssert(REJOIN_TIMEOUT, () -> {
                UniqueAddress now = node.cluster().selfMember().uniqueAddress();
                assertNotEquals(first, now, "still the downed incarnation");
                assertEquals(first.address(), now.address(), "a new incarnation keeps the node's cluster address");
                assertTrue(members(seed).stream().anyMatch(m -> m.uniqueAddress().equals(now)
                        && m.status().equals(MemberStatus.up())), () -> members(seed).toString());
                return null;
            });
            awaitTwoUp(probe, seed);
            // It serves again on the same port, from the same data directory, still locked by it.
            probe.awaitAssert(REJOIN_TIMEOUT, () -> {
                assertEquals('N', WalkeeperNodeTest.sslAnswer(node.address()));
                return null;
            });
            assertThrows(IOException.class, () -> DataDirectory.open(downedDir).close());
            assertFalse(node.whenEnded().toCompletableFuture().isDone(), "the node goes on");

            node.close();
            assertEquals(WalkeeperNode.Ending.STOPPED, node.whenEnded().toCompletableFuture().getNow(null));
        }
    }

    @Test
    void withRejoinOffADownedNodeEndsAsDownedAndReleasesItsPortAndDataDirectory() throws Exception {
        TestProbe<Void> probe = testKit.createTestProbe();
        Path downedDir = dir.resolve("n2");
        try (WalkeeperNode seed = WalkeeperNode.start(config(dir.resolve("n1"), "walkeeper.node-id = 1"));
             WalkeeperNode node = WalkeeperNode.start(config(downedDir,
                     "walkeeper { node-id = 2, cluster.rejoin-after-downed = off }\n" + seedOf(seed)))) {
            awaitTwoUp(probe, seed);
            InetSocketAddress listening = node.address();

            seed.cluster().manager().tell(new Down(node.cluster().selfMember().address()));

            assertEquals(WalkeeperNode.Ending.DOWNED,
                    node.whenEnded().toCompletableFuture().get(REJOIN_TIMEOUT.toSeconds(), TimeUnit.SECONDS));
            DataDirectory.open(downedDir).close();
            probe.awaitAssert(REJOIN_TIMEOUT, () -> {
                try (ServerSocket rebound = new ServerSocket()) {
                    rebound.bind(listening);
                }
                return null;
            });
        }
    }
}
