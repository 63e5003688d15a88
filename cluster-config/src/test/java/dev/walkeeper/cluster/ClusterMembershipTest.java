package dev.walkeeper.cluster;

import static dev.walkeeper.cluster.InProcessNodes.config;
import static dev.walkeeper.cluster.InProcessNodes.members;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Nodes in this JVM form a Pekko Cluster: alone by default, or through a seed. */
class ClusterMembershipTest {
    private static final Duration JOIN_TIMEOUT = Duration.ofSeconds(30);
    /** Only for its probes' awaitAssert; the nodes have their own actor systems. */
    private static final ActorTestKit testKit = ActorTestKit.create();

    @TempDir
    Path dir;

    @AfterAll
    static void shutdown() {
        testKit.shutdownTestKit();
    }



    @Test
    void aNodeWithoutClusterSettingsIsUpInAClusterOfItsOwn() throws Exception {
        TestProbe<Void> probe = testKit.createTestProbe();
        try (WalkeeperNode node = WalkeeperNode.start(config(dir, ""))) {
            probe.awaitAssert(JOIN_TIMEOUT, () -> {
                assertEquals(MemberStatus.up(), node.cluster().selfMember().status());
                assertEquals(List.of(node.cluster().selfMember()), members(node));
                return null;
            });
            Address self = node.cluster().selfMember().address();
            assertEquals("walkeeper", self.system());
            assertEquals("127.0.0.1", self.getHost().orElseThrow());
        }
    }

    @Test
    void threeNodesJoiningTheFirstAllSeeThreeMembersUp() throws Exception {
        TestProbe<Void> probe = testKit.createTestProbe();
        List<WalkeeperNode> nodes = new ArrayList<>();
        try {
            WalkeeperNode seed = WalkeeperNode.start(config(dir.resolve("n1"), "walkeeper.node-id = 1"));
            nodes.add(seed);
            Address seedAddress = seed.cluster().selfMember().address();
            String seedNode = seedAddress.getHost().orElseThrow() + ":" + seedAddress.getPort().orElseThrow();
            for (int id = 2; id <= 3; id++) {
                nodes.add(WalkeeperNode.start(config(dir.resolve("n" + id),
                        "walkeeper { node-id = " + id + ", cluster.seed-nodes = [\"" + seedNode + "\"] }")));
            }

            for (WalkeeperNode node : nodes) {
                probe.awaitAssert(JOIN_TIMEOUT, () -> {
                    List<Member> members = members(node);
                    assertEquals(3, members.size(), members::toString);
                    for (Member member : members) {
                        assertEquals(MemberStatus.up(), member.status(), members::toString);
                    }
                    return null;
                });
            }
        } finally {
            // Later nodes first: the seed leaves last, as an operator would stop them.
            for (int i = nodes.size() - 1; i >= 0; i--) {
                nodes.get(i).close();
            }
        }
    }

    @Test
    void aNodeWithTheClusterOffIsNoMember() throws Exception {
        try (WalkeeperNode node = WalkeeperNode.start(config(dir, "walkeeper.cluster.enabled = off"))) {
            assertThrows(IllegalStateException.class, node::cluster);
        }
    }
}
