package dev.walkeeper.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import dev.walkeeper.actors.connection.AuthPolicy;
import dev.walkeeper.actors.connection.ConnectionSettings;
import dev.walkeeper.actors.recovery.RecoverySettings;
import dev.walkeeper.protocol.auth.Md5Authentication;
import dev.walkeeper.protocol.auth.ScramVerifier;
import dev.walkeeper.protocol.pg.FrameDecoder;
import java.net.InetAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@code walkeeper.*} read from HOCON: the documented defaults, and a clear refusal of every bad setting. */
class NodeSettingsTest {
    /** A client that is not on loopback, so the policy has to look at the users. */
    private static final InetAddress REMOTE = address("192.0.2.7");

    private static NodeSettings settings(String hocon) {
        return NodeSettings.from(ConfigFactory.parseString(hocon)
                .withFallback(ConfigFactory.defaultReference()).resolve());
    }

    private static IllegalArgumentException refused(String hocon) {
        return assertThrows(IllegalArgumentException.class, () -> settings(hocon));
    }

    private static void assertMentions(Exception e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "\"" + part + "\" not in: " + e.getMessage());
        }
    }

    @Test
    void pushPasswordsAreReadPerUserAndNoneByDefault() {
        assertEquals(java.util.Map.of(), settings("").pushPasswords());
        assertEquals(java.util.Map.of("pusher", "secret", "a.b", ""),
                settings("walkeeper.push.passwords { pusher = secret, \"a.b\" = \"\" }").pushPasswords());
        assertMentions(refused("walkeeper.push.passwords { pusher { x = 1 } }"), "walkeeper.push.passwords", "pusher");
    }

    @Test
    void metricsAreOffByDefaultAndServedOnTheAddressGiven() {
        assertFalse(settings("").servesMetrics());
        assertNull(settings("").metricsListen());
        assertEquals(new ClusterSettings.HostPort("127.0.0.1", 0),
                settings("walkeeper.metrics.listen = \"127.0.0.1:0\"").metricsListen());
        assertTrue(settings("walkeeper.metrics.listen = \"0.0.0.0:9454\"").servesMetrics());
        assertMentions(refused("walkeeper.metrics.listen = \"127.0.0.1\""), "walkeeper.metrics.listen");
        assertMentions(refused("walkeeper.metrics.listen = \"127.0.0.1:65536\""), "walkeeper.metrics.listen");
    }

    @Test
    void defaultsComeFromReferenceConf() {
        NodeSettings s = settings("");

        assertEquals(1, s.nodeId());
        assertEquals(Path.of("./data"), s.dataDir());
        assertEquals("127.0.0.1", s.host());
        assertEquals(5454, s.port());
        ConnectionSettings c = s.connection();
        assertEquals(Duration.ofSeconds(10), c.startupTimeout());
        assertEquals(Duration.ofSeconds(5), c.drainTimeout());
        // The documented "16 MiB + 1 KiB": room for a 16 MiB CopyData payload, as the framer's default.
        assertEquals(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE, c.maxMessageSize());
        assertEquals("15.0", c.serverVersion());
        assertEquals(0, c.systemId());
        assertEquals(16 << 20, c.walSegmentSize());
        assertTrue(c.auth().isOpen(), "no users by default");
        assertEquals(new ConnectionSettings.Limits(1000, 0, Duration.ofSeconds(1), Duration.ofSeconds(60)), c.limits());
    }

    @Test
    void connectionLimitsComeThroughAsWrittenAndZeroTurnsThemOff() {
        ConnectionSettings.Limits limits = settings("""
                walkeeper.connection { max-connections = 5, max-connections-per-user = 2,
                  auth-failure-delay = 300ms, wal-push-idle-timeout = 2m }""").connection().limits();
        assertEquals(new ConnectionSettings.Limits(5, 2, Duration.ofMillis(300), Duration.ofMinutes(2)), limits);
        assertEquals(ConnectionSettings.Limits.NONE, settings("""
                walkeeper.connection { max-connections = 0, max-connections-per-user = 0,
                  auth-failure-delay = 0s, wal-push-idle-timeout = 0s }""").connection().limits());
    }

    @ParameterizedTest
    @ValueSource(strings = {"max-connections = -1", "max-connections-per-user = -1", "auth-failure-delay = -1s",
            "wal-push-idle-timeout = -5s", "startup-timeout = 0s", "startup-timeout = -1s", "drain-timeout = 0s"})
    void aNegativeLimitOrANonPositiveTimeoutIsRefusedByName(String setting) {
        assertMentions(refused("walkeeper.connection." + setting),
                "walkeeper.connection." + setting.substring(0, setting.indexOf(' ')));
    }

    @ParameterizedTest
    @ValueSource(strings = {"abc", "-1", "18446744073709551616"})
    void aSystemIdThatIsNoUnsigned64BitNumberIsRefusedByName(String systemId) {
        assertMentions(refused("walkeeper.system-id = \"" + systemId + "\""), "walkeeper.system-id", systemId);
    }

    @ParameterizedTest
    @ValueSource(strings = {"0.0.0.0", "192.0.2.1", "::"})
    void aNonLoopbackListenAddressWithoutUsersIsRefused(String host) {
        StartupException e = assertThrows(StartupException.class,
                () -> settings("walkeeper.listen.host = \"" + host + "\""));
        // A refusal of its own (exit code), saying what to configure instead.
        assertEquals(StartupException.Reason.NO_USERS, e.reason());
        assertMentions(e, host, "walkeeper.auth.users", "--listen 127.0.0.1");
    }

    @ParameterizedTest
    @ValueSource(strings = {"localhost", "127.0.0.2", "::1"})
    void anyLoopbackAddressIsAcceptedWithoutUsers(String host) {
        assertEquals(host, settings("walkeeper.listen.host = \"" + host + "\"").host());
    }

    @Test
    void aNonLoopbackListenAddressIsAcceptedOnceAUserIsConfigured() {
        NodeSettings s = settings("""
                walkeeper.listen.host = "0.0.0.0"
                walkeeper.auth.users { walkeeper { method = scram-sha-256, password = "pw" } }
                """);

        assertEquals("0.0.0.0", s.host());
        assertFalse(s.connection().auth().isOpen());
        // A remote client is now challenged instead of refused.
        AuthPolicy.Challenge challenge = assertInstanceOf(AuthPolicy.Challenge.class,
                s.connection().auth().decide("walkeeper", REMOTE));
        assertEquals(AuthPolicy.Method.SCRAM_SHA_256, challenge.method());
        assertEquals("walkeeper", challenge.user().name());
    }

    @Test
    void aScramVerifierFromPgAuthidIsUsedAsIs() {
        ScramVerifier verifier = ScramVerifier.generate("s3cret");
        NodeSettings s = settings("walkeeper.auth.users { walkeeper { method = scram-sha-256, verifier = \""
                + verifier.format() + "\" } }");

        AuthPolicy.User user = challengedUser(s, "walkeeper", AuthPolicy.Method.SCRAM_SHA_256);
        ScramVerifier configured = assertInstanceOf(AuthPolicy.Scram.class, user.credential()).verifier();
        assertEquals(verifier.format(), configured.format());
        assertTrue(configured.verifiesPassword("s3cret"));
        assertFalse(configured.verifiesPassword("s3cret "));
    }

    @Test
    void anMd5VerifierFromPgAuthidIsUsedAsIs() {
        String verifier = Md5Authentication.verifier("archiver", "secret");
        NodeSettings s = settings("walkeeper.auth.users { archiver { method = md5, verifier = \"" + verifier + "\" } }");

        AuthPolicy.User user = challengedUser(s, "archiver", AuthPolicy.Method.MD5);
        assertEquals(verifier, assertInstanceOf(AuthPolicy.Md5.class, user.credential()).verifier());
        assertTrue(user.acceptsCleartext("secret"));
        assertFalse(user.acceptsCleartext("Secret"));
    }

    @Test
    void aCleartextPasswordBecomesTheCredentialEachMethodNeeds() {
        NodeSettings s = settings("""
                walkeeper.auth.users {
                  compute   { method = password, password = "jwt.token.here" }
                  archiver  { method = md5, password = "secret" }
                  walkeeper { method = scram-sha-256, password = "horse" }
                  receiver  { method = trust }
                  "app.user" { method = PASSWORD, password = "dotted" }
                }
                """);

        AuthPolicy.User compute = challengedUser(s, "compute", AuthPolicy.Method.PASSWORD);
        assertTrue(compute.acceptsCleartext("jwt.token.here"));
        assertFalse(compute.acceptsCleartext("jwt.token"));

        AuthPolicy.User archiver = challengedUser(s, "archiver", AuthPolicy.Method.MD5);
        // The md5 verifier salts with the user name, as PostgreSQL's.
        assertEquals(Md5Authentication.verifier("archiver", "secret"),
                assertInstanceOf(AuthPolicy.Md5.class, archiver.credential()).verifier());

        AuthPolicy.User walkeeper = challengedUser(s, "walkeeper", AuthPolicy.Method.SCRAM_SHA_256);
        assertTrue(assertInstanceOf(AuthPolicy.Scram.class, walkeeper.credential()).verifier().verifiesPassword("horse"));

        assertInstanceOf(AuthPolicy.Trusted.class, s.connection().auth().decide("receiver", REMOTE));

        // A quoted name with a dot is one user, not a path; the method name is case-insensitive.
        assertTrue(challengedUser(s, "app.user", AuthPolicy.Method.PASSWORD).acceptsCleartext("dotted"));
    }

    @Test
    void anUnknownMethodIsRefusedNamingTheUserAndTheKnownMethods() {
        IllegalArgumentException e = refused("walkeeper.auth.users { bob { method = kerberos, password = \"x\" } }");
        assertMentions(e, "walkeeper.auth.users.bob", "kerberos", "trust, password, md5 or scram-sha-256");
    }

    @ParameterizedTest
    @ValueSource(strings = {"md5", "scram-sha-256", "password"})
    void aMethodWithoutACredentialIsRefused(String method) {
        IllegalArgumentException e = refused("walkeeper.auth.users { bob { method = " + method + " } }");
        assertMentions(e, "walkeeper.auth.users.bob", method, "needs a verifier or a password");
    }

    @Test
    void aUserWithoutAMethodIsRefused() {
        IllegalArgumentException e = refused("walkeeper.auth.users { bob { password = \"x\" } }");
        assertMentions(e, "walkeeper.auth.users.bob", "method");
    }

    @Test
    void aVerifierOfTheWrongKindForTheMethodIsRefused() {
        String md5 = Md5Authentication.verifier("bob", "x");
        IllegalArgumentException e = refused("walkeeper.auth.users { bob { method = scram-sha-256, verifier = \""
                + md5 + "\" } }");
        assertMentions(e, "walkeeper.auth.users.bob", "scram-sha-256 needs a SCRAM verifier");
    }

    @Test
    void aMalformedScramVerifierIsRefused() {
        IllegalArgumentException e = refused(
                "walkeeper.auth.users { bob { method = scram-sha-256, verifier = \"SCRAM-SHA-256$4096:bm9wZQ==\" } }");
        assertMentions(e, "walkeeper.auth.users.bob", "SCRAM-SHA-256 verifier");
    }

    @ParameterizedTest
    @ValueSource(strings = {"3MiB", "512KiB", "2GiB", "0"})
    void aWalSegmentSizeThatIsNotAPowerOfTwoBetween1MiBAnd1GiBIsRefused(String size) {
        IllegalArgumentException e = refused("walkeeper.wal-segment-size = " + size);
        assertMentions(e, "walkeeper.wal-segment-size");
    }

    @Test
    void peerRecoveryDefaultsAndItsSettings() {
        RecoverySettings defaults = settings("").recovery();
        assertTrue(defaults.enabled());
        assertEquals(Duration.ofSeconds(1), defaults.checkInterval());
        assertEquals(16L << 20, defaults.minLagBytes());
        assertEquals("walkeeper", defaults.user());
        assertEquals(null, defaults.password(), "an empty password is none");
        assertEquals(Duration.ofSeconds(10), defaults.handshakeTimeout());

        RecoverySettings set = settings("""
                walkeeper.recovery { enabled = off, check-interval = 250ms, min-lag = 1MiB, user = peer,
                  password = secret, handshake-timeout = 3s }
                """).recovery();
        assertEquals(new RecoverySettings(false, Duration.ofMillis(250), 1L << 20, "peer", "secret",
                Duration.ofSeconds(3)), set);
        assertMentions(refused("walkeeper.recovery.min-lag = -1"), "walkeeper.recovery", "min-lag");
    }

    @Test
    void walSegmentSizesAtTheBoundsAreAccepted() {
        assertEquals(1 << 20, settings("walkeeper.wal-segment-size = 1MiB").connection().walSegmentSize());
        assertEquals(1 << 30, settings("walkeeper.wal-segment-size = 1GiB").connection().walSegmentSize());
    }

    @ParameterizedTest
    @ValueSource(strings = {"\"18446744073709551615\"", "18446744073709551615", "\"9223372036854775808\""})
    void aSystemIdAboveLongMaxValueIsReadAsUnsigned(String value) {
        long systemId = settings("walkeeper.system-id = " + value).connection().systemId();
        // PostgreSQL's system identifier is a uint64; it is kept in a long's bits.
        assertEquals(value.replace("\"", ""), Long.toUnsignedString(systemId));
    }

    @Test
    void aTypicalSystemIdIsReadExactly() {
        assertEquals(7301234567890123456L, settings("walkeeper.system-id = 7301234567890123456").connection().systemId());
    }

    @Test
    void nodeIdDataDirAndPortComeThroughAsWritten() {
        NodeSettings s = settings("walkeeper { node-id = 7, data-dir = \"/var/lib/walkeeper\", listen.port = 0 }");
        assertEquals(7, s.nodeId());
        assertEquals(Path.of("/var/lib/walkeeper"), s.dataDir());
        assertEquals(0, s.port());
        // Still no users: loopback clients are trusted.
        assertInstanceOf(AuthPolicy.Trusted.class, s.connection().auth().decide("anyone", InetAddress.getLoopbackAddress()));
    }

    @Test
    void byDefaultTheNodeIsAClusterMemberOnAnyFreePortWithNoSeeds() {
        ClusterSettings c = settings("").cluster();
        assertTrue(c.enabled());
        assertEquals("127.0.0.1", c.host());
        assertEquals(0, c.port());
        assertEquals(List.of(), c.seedNodes());
        assertEquals(Duration.ofMillis(200), c.publishInterval());
        assertEquals(16L << 20, c.pusherLagTolerance());
    }

    @Test
    void thePusherLagToleranceIsReadInBytesAndNeverNegative() {
        assertEquals(1L << 30, settings("walkeeper.cluster.pusher-lag-tolerance = 1GiB").cluster().pusherLagTolerance());
        assertEquals(0, settings("walkeeper.cluster.pusher-lag-tolerance = 0").cluster().pusherLagTolerance());
        assertMentions(refused("walkeeper.cluster.pusher-lag-tolerance = -1"), "walkeeper.cluster.pusher-lag-tolerance");
    }

    @Test
    void clusterListenAndSeedNodesComeThroughAsWritten() {
        ClusterSettings c = settings("""
                walkeeper.cluster { listen = "10.0.0.3:2551", seed-nodes = ["10.0.0.1:2551", "node2.example:2552"] }
                """).cluster();
        assertEquals("10.0.0.3", c.host());
        assertEquals(2551, c.port());
        assertEquals(List.of(new ClusterSettings.HostPort("10.0.0.1", 2551),
                new ClusterSettings.HostPort("node2.example", 2552)), c.seedNodes());
        assertEquals("pekko://walkeeper@node2.example:2552", c.seedAddresses("walkeeper").get(1).toString());
    }

    @Test
    void theClusterSettingsBecomeTheNodesPekkoClusterConfiguration() {
        Config pekko = settings("walkeeper.cluster.listen = \"10.0.0.3:2551\"").cluster().pekkoConfig(7);
        assertEquals("cluster", pekko.getString("pekko.actor.provider"));
        assertEquals("tcp", pekko.getString("pekko.remote.artery.transport"));
        assertEquals("10.0.0.3", pekko.getString("pekko.remote.artery.canonical.hostname"));
        assertEquals(2551, pekko.getInt("pekko.remote.artery.canonical.port"));
        assertEquals(List.of("walkeeper-node-7"), pekko.getStringList("pekko.cluster.roles"));

        assertTrue(settings("walkeeper.cluster.enabled = off").cluster().pekkoConfig(7).isEmpty(),
                "a node that is no member keeps the local provider");
    }

    @Test
    void anAdvertisedClusterAddressIsArteryCanonicalAndTheListenAddressItsBindAddress() {
        ClusterSettings c = settings("""
                walkeeper.cluster { listen = "127.0.0.1:2552", advertise = "127.0.0.1:3552" }
                """).cluster();
        Config pekko = c.pekkoConfig(7);
        assertEquals("127.0.0.1", pekko.getString("pekko.remote.artery.canonical.hostname"));
        assertEquals(3552, pekko.getInt("pekko.remote.artery.canonical.port"));
        assertEquals("127.0.0.1", pekko.getString("pekko.remote.artery.bind.hostname"));
        assertEquals(2552, pekko.getInt("pekko.remote.artery.bind.port"));

        assertFalse(settings("").cluster().pekkoConfig(7).hasPath("pekko.remote.artery.bind.port"),
                "without advertise Artery binds its canonical address");
    }

    @Test
    void anAdvertisedAddressNeedsARealListenPort() {
        assertMentions(refused("walkeeper.cluster { listen = \"127.0.0.1:0\", advertise = \"127.0.0.1:3552\" }"),
                "walkeeper.cluster.listen", "walkeeper.cluster.advertise");
    }

    @Test
    void aDownedNodeRejoinsByDefault() {
        assertTrue(settings("").cluster().rejoinAfterDowned());
        assertFalse(settings("walkeeper.cluster.rejoin-after-downed = off").cluster().rejoinAfterDowned());
    }

    @Test
    void referenceConfAloneKeepsOtherActorSystemsLocalAndTurnsTheSplitBrainResolverOn() {
        Config reference = ConfigFactory.load();
        assertEquals("local", reference.getString("pekko.actor.provider"));
        assertEquals("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider",
                reference.getString("pekko.cluster.downing-provider-class"));
        assertEquals("keep-majority", reference.getString("pekko.cluster.split-brain-resolver.active-strategy"));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3})
    void theOneMachineExamplesGiveThreeNodesDistinctPortsAndTheSameSeeds(int node) {
        NodeSettings s = example("one-machine-node" + node + ".conf", ConfigFactory.empty());
        assertEquals(node, s.nodeId());
        assertEquals(Path.of("data/node" + node), s.dataDir());
        assertEquals(5453 + node, s.port());
        assertEquals(new ClusterSettings.HostPort("127.0.0.1", 2550 + node),
                new ClusterSettings.HostPort(s.cluster().host(), s.cluster().port()));
        assertEquals(List.of(new ClusterSettings.HostPort("127.0.0.1", 2551),
                new ClusterSettings.HostPort("127.0.0.1", 2552)), s.cluster().seedNodes());
    }

    @Test
    void theThreeMachinesExampleTakesTheNodeIdAndAddressFromTheEnvironment() {
        NodeSettings s = example("three-machines.conf", ConfigFactory.parseString(
                "WALKEEPER_NODE_ID = 3, WALKEEPER_HOST = \"10.0.0.3\""));
        assertEquals(3, s.nodeId());
        assertEquals("10.0.0.3", s.host());
        assertEquals("10.0.0.3", s.cluster().host());
        assertEquals(2551, s.cluster().port());
        assertEquals(List.of(new ClusterSettings.HostPort("10.0.0.1", 2551),
                new ClusterSettings.HostPort("10.0.0.2", 2551)), s.cluster().seedNodes());
    }

    /** A file of cluster-config/examples (the tests run in the module's directory), {@code env} standing in for the environment. */
    private static NodeSettings example(String file, Config env) {
        Config config = ConfigFactory.parseFile(Path.of("examples", file).toFile(),
                ConfigParseOptions.defaults().setAllowMissing(false));
        return NodeSettings.from(config.withFallback(env).withFallback(ConfigFactory.defaultReference()).resolve());
    }

    @ParameterizedTest
    @ValueSource(strings = {"walkeeper.cluster.listen = \"nonsense\"", "walkeeper.cluster.listen = \"host:\"",
            "walkeeper.cluster.listen = \":2551\"", "walkeeper.cluster.listen = \"host:65536\"",
            "walkeeper.cluster.seed-nodes = [\"host:0\"]", "walkeeper.cluster.seed-nodes = [\"host:x\"]",
            "walkeeper.cluster.advertise = \"host:0\""})
    void aMalformedClusterAddressIsRefusedNamingTheSetting(String hocon) {
        assertMentions(refused(hocon), "walkeeper.cluster.", "HOST:PORT");
    }

    private static AuthPolicy.User challengedUser(NodeSettings s, String name, AuthPolicy.Method method) {
        AuthPolicy.Challenge challenge = assertInstanceOf(AuthPolicy.Challenge.class,
                s.connection().auth().decide(name, REMOTE));
        assertEquals(method, challenge.method());
        assertEquals(name, challenge.user().name());
        return challenge.user();
    }

    private static InetAddress address(String literal) {
        try {
            return InetAddress.getByName(literal);
        } catch (java.net.UnknownHostException e) {
            throw new AssertionError(e);
        }
    }
}
