package dev.walkeeper.protocol.auth;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.ongres.scram.client.ScramClient;
import com.ongres.scram.common.ScramFunctions;
import com.ongres.scram.common.ScramMechanism;
import com.ongres.scram.common.StringPreparation;
import com.ongres.scram.common.exception.ScramInvalidServerSignatureException;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ScramServerExchangeTest {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Pattern SERVER_FIRST = Pattern.compile("r=([\\x21-\\x2b\\x2d-\\x7e]+),s=([A-Za-z0-9+/=]+),i=([0-9]+)");
    private static final byte[] SECRET_A = "node-a-mock-secret-0123456789abc".getBytes(UTF_8);
    private static final byte[] SECRET_B = "node-b-mock-secret-0123456789abc".getBytes(UTF_8);

    // ---- against the real SCRAM client (com.ongres.scram:scram-client, as used by pgjdbc) ----

    /** Runs a whole exchange with ScramClient; returns the client after it accepted the server-final. */
    private static void exchangeWithScramClient(ScramServerExchange server, String password) throws Exception {
        ScramClient client = ScramClient.builder()
                .advertisedMechanisms(List.of(ScramServerExchange.MECHANISM))
                .username("*") // ignored by the server, as PostgreSQL; pgjdbc sends this
                .password(password.toCharArray())
                .stringPreparation(StringPreparation.POSTGRESQL_PREPARATION)
                .build();
        byte[] serverFirst = server.serverFirst(client.clientFirstMessage().toString().getBytes(UTF_8));
        client.serverFirstMessage(new String(serverFirst, UTF_8));
        byte[] serverFinal = server.serverFinal(client.clientFinalMessage().toString().getBytes(UTF_8));
        // Throws ScramInvalidServerSignatureException unless v= is the right server signature.
        client.serverFinalMessage(new String(serverFinal, UTF_8));
    }

    @ParameterizedTest
    @ValueSource(strings = {"s3cret", "p\u00e4ssw\u00f6rd \u65e5\u672c", "pencil"})
    void fullExchangeSucceedsWithRightPassword(String password) {
        ScramVerifier verifier = ScramVerifier.generate(password);
        assertDoesNotThrow(() -> exchangeWithScramClient(new ScramServerExchange(verifier, "alice", RANDOM), password));
    }

    @Test
    void clientAppliesSaslPrepLikeTheServer() {
        ScramVerifier verifier = ScramVerifier.generate("IX");
        assertDoesNotThrow(() -> exchangeWithScramClient(new ScramServerExchange(verifier, "alice", RANDOM), "\u2168"));
    }

    @Test
    void clientRejectsATamperedServerSignature() throws Exception {
        // Shows the successful tests above really check v=: a wrong signature is caught.
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("s3cret"), "alice", RANDOM);
        ScramClient client = ScramClient.builder().advertisedMechanisms(List.of("SCRAM-SHA-256"))
                .username("*").password("s3cret".toCharArray()).build();
        client.serverFirstMessage(new String(server.serverFirst(client.clientFirstMessage().toString().getBytes(UTF_8)), UTF_8));
        String serverFinal = new String(server.serverFinal(client.clientFinalMessage().toString().getBytes(UTF_8)), UTF_8);
        char c = serverFinal.charAt(5);
        String tampered = serverFinal.substring(0, 5) + (c == 'A' ? 'B' : 'A') + serverFinal.substring(6);
        assertThrows(ScramInvalidServerSignatureException.class, () -> client.serverFinalMessage(tampered));
    }

    @Test
    void wrongPasswordFailsAtFinalStep() {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("s3cret"), "alice", RANDOM);
        AuthenticationFailedException e = assertThrows(AuthenticationFailedException.class,
                () -> exchangeWithScramClient(server, "s3cres"));
        assertEquals("password authentication failed for user \"alice\"", e.getMessage());
        assertEquals("alice", e.user());
        assertSame(SqlState.INVALID_PASSWORD, e.sqlState());
        assertThrows(IllegalStateException.class, () -> server.serverFinal("c=biws".getBytes(UTF_8)));
    }

    @Test
    void unknownUserFailsOnlyAtFinalStep() throws Exception {
        ScramServerExchange server = new ScramServerExchange(null, "mallory", RANDOM);
        RawClient client = new RawClient("n,,", "n=,r=clientnonce123");
        String serverFirst = new String(server.serverFirst(client.first()), ISO_8859_1);
        Matcher m = SERVER_FIRST.matcher(serverFirst);
        assertTrue(m.matches(), serverFirst);
        assertEquals(16, Base64.getDecoder().decode(m.group(2)).length);
        assertEquals("4096", m.group(3));
        AuthenticationFailedException e = assertThrows(AuthenticationFailedException.class,
                () -> server.serverFinal(client.finalMessage(serverFirst, "anything", "biws", "")));
        assertEquals("password authentication failed for user \"mallory\"", e.getMessage());
    }

    @Test
    void unknownUserWithScramClientFails() {
        assertThrows(AuthenticationFailedException.class,
                () -> exchangeWithScramClient(new ScramServerExchange(null, "mallory", RANDOM), "whatever"));
    }

    @Test
    void mockSaltIsStablePerUserAndSecretOnly() {
        assertEquals(saltOf(null, "mallory", SECRET_A), saltOf(null, "mallory", SECRET_A));
        assertNotEquals(saltOf(null, "mallory", SECRET_A), saltOf(null, "mallery", SECRET_A));
        assertNotEquals(saltOf(null, "mallory", SECRET_A), saltOf(null, "mallory", SECRET_B));
        // The per-process secret is stable too, within the process.
        ScramServerExchange a = new ScramServerExchange(null, "mallory", RANDOM);
        ScramServerExchange b = new ScramServerExchange(null, "mallory", RANDOM);
        assertEquals(serverFirstOf(a).get("s"), serverFirstOf(b).get("s"));
    }

    @Test
    void mockSecretMustBeLongEnough() {
        assertThrows(IllegalArgumentException.class, () -> new ScramServerExchange(null, "u", RANDOM, new byte[15]));
        assertThrows(NullPointerException.class, () -> new ScramServerExchange(null, null, RANDOM));
    }

    @Test
    void serverFirstCarriesVerifierSaltIterationsAndAFreshNonce() {
        ScramVerifier verifier = ScramVerifier.fromPassword("pw", new byte[] {1, 2, 3, 4, 5, 6, 7, 8}, 10000);
        Map<String, String> first = serverFirstOf(new ScramServerExchange(verifier, "alice", RANDOM));
        assertEquals("AQIDBAUGBwg=", first.get("s"));
        assertEquals("10000", first.get("i"));
        String nonce = first.get("r");
        assertTrue(nonce.startsWith("clientnonce123"), nonce);
        String serverPart = nonce.substring("clientnonce123".length());
        assertEquals(24, serverPart.length());
        assertEquals(18, Base64.getDecoder().decode(serverPart).length);
        assertNotEquals(nonce, serverFirstOf(new ScramServerExchange(verifier, "alice", RANDOM)).get("r"));
    }

    @Test
    void serverNonceComesFromTheGivenRandom() throws Exception {
        ScramVerifier verifier = ScramVerifier.generate("pw");
        SecureRandom r1 = SecureRandom.getInstance("SHA1PRNG");
        r1.setSeed(42L);
        SecureRandom r2 = SecureRandom.getInstance("SHA1PRNG");
        r2.setSeed(42L);
        assertEquals(serverFirstOf(new ScramServerExchange(verifier, "alice", r1)).get("r"),
                serverFirstOf(new ScramServerExchange(verifier, "alice", r2)).get("r"));
    }

    // ---- RFC 7677 test vector, end to end ----

    @Test
    void rfc7677Exchange() throws Exception {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.parse(ScramVerifierTest.RFC7677_VERIFIER),
                "user", SECRET_A, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        assertEquals("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                new String(server.serverFirst("n,,n=user,r=rOprNGfwEbeRWgbNEkqO".getBytes(UTF_8)), UTF_8));
        assertEquals("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
                new String(server.serverFinal(("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                        + "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=").getBytes(UTF_8)), UTF_8));
    }

    // ---- messages ScramClient does not send, built by hand ----

    @Test
    void libpqStyleEmptyUserNameSucceeds() {
        // libpq sends "n,,n=,r=<nonce>": the startup packet carries the user.
        assertDoesNotThrow(() -> rawExchange("pw", "n,,", "n=,r=fyko+d2lbbFgONRv9qkxdawL", "biws", ""));
    }

    @Test
    void authMessageUsesTheClientsRawBytes() {
        // A user name in UTF-8 and one that is not valid UTF-8: the proof covers the bytes as sent.
        String utf8User = new String("n=j\u00fcrgen".getBytes(UTF_8), ISO_8859_1);
        assertDoesNotThrow(() -> rawExchange("pw", "n,,", utf8User + ",r=abcdef", "biws", ""));
        assertDoesNotThrow(() -> rawExchange("pw", "n,,", "n=\u00ff\u00fe,r=abcdef", "biws", ""));
    }

    @Test
    void clientThatSupportsBindingButThinksServerDoesNotIsAccepted() {
        assertDoesNotThrow(() -> rawExchange("pw", "y,,", "n=,r=abcdef", "eSws", ""));
    }

    @Test
    void optionalExtensionsAreIgnoredAsPostgresDoes() {
        assertDoesNotThrow(() -> rawExchange("pw", "n,,", "n=,r=abcdef,x=first-ext", "biws", ",y=final-ext"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"n,,|eSws", "y,,|biws", "n,,|bixx", "n,,|", "y,,|cD10bHMtdW5pcXVlLCw="})
    void channelBindingDataMustRepeatTheGs2Header(String headerAndCbind) {
        String[] parts = headerAndCbind.split("\\|", -1);
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> rawExchange("pw", parts[0], "n=,r=abcdef", parts[1], ""));
        assertSame(SqlState.PROTOCOL_VIOLATION, e.sqlState());
    }

    @Test
    void channelBindingRequestIsRefused() {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("pw"), "alice", RANDOM);
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> server.serverFirst("p=tls-server-end-point,,n=,r=abcdef".getBytes(UTF_8)));
        assertSame(SqlState.PROTOCOL_VIOLATION, e.sqlState());
        assertTrue(e.getMessage().contains("PLUS"), e.getMessage());
    }

    @Test
    void authorizationIdentityIsRefused() {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("pw"), "alice", RANDOM);
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> server.serverFirst("n,a=bob,n=,r=abcdef".getBytes(UTF_8)));
        assertSame(SqlState.FEATURE_NOT_SUPPORTED, e.sqlState()); // as PostgreSQL
    }

    @Test
    void mandatoryExtensionIsRefused() {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("pw"), "alice", RANDOM);
        ProtocolException e = assertThrows(ProtocolException.class,
                () -> server.serverFirst("n,,m=ext,n=,r=abcdef".getBytes(UTF_8)));
        assertSame(SqlState.FEATURE_NOT_SUPPORTED, e.sqlState()); // as PostgreSQL
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "",
        "garbage",
        "x,,n=,r=abc",
        "n",
        "n,",
        "n,,",
        "nn,,n=,r=abc",
        "n,x=y,n=,r=abc",
        "n,,r=abc",
        "n,,n=",
        "n,,n=,",
        "n,,n=,r",
        "n,,n=,rabc",
        "n,,n=,r=",
        "n,,n=,s=abc",
        "n,,n=,r=ab\u0001c",
        "n,,n=,r=ab c",
        "n,,n=,r=abc\u00e9",
        "n,,n=,r=abc\u0000",
        "\u0000n,,n=,r=abc",
        "n,,n=,r=abc,",
        "n,,n=,r=abc,1=x",
        "n,,n=,r=abc,x",
    })
    void malformedClientFirstIsAProtocolViolation(String message) {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("pw"), "alice", RANDOM);
        ProtocolException e = assertThrows(ProtocolException.class, () -> server.serverFirst(message.getBytes(ISO_8859_1)));
        assertSame(SqlState.PROTOCOL_VIOLATION, e.sqlState(), e.getMessage());
        // The exchange is over after a failure.
        assertThrows(IllegalStateException.class, () -> server.serverFirst("n,,n=,r=abc".getBytes(UTF_8)));
    }

    /** {N}: the full nonce; {P}: a correctly computed proof for the message as written. */
    static Stream<Arguments> malformedClientFinals() {
        return Stream.of(
                Arguments.of(""),
                Arguments.of("garbage"),
                Arguments.of("r={N},p={P}"),
                Arguments.of("c=biws,p={P}"),
                Arguments.of("c=biws,r={N}"),
                Arguments.of("c=biws,r={N},"),
                Arguments.of("c=biws,r={N},p="),
                Arguments.of("c=biws,r={N},p=!!notbase64!!"),
                Arguments.of("c=biws,r={N},p=" + Base64.getEncoder().encodeToString(new byte[31])),
                Arguments.of("c=biws,r={N},p=" + Base64.getEncoder().encodeToString(new byte[33])),
                Arguments.of("c=biws,r={N},p={P},x=1"),
                Arguments.of("c=biws,r={N},p={P},"),
                Arguments.of("c=biws,r={N},1=x,p={P}"),
                Arguments.of("c=biws,r={N},p={P}\u0000"),
                Arguments.of("c=biws r={N},p={P}"),
                Arguments.of("cbiws,r={N},p={P}"));
    }

    @ParameterizedTest
    @MethodSource("malformedClientFinals")
    void malformedClientFinalIsAProtocolViolation(String template) {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("pw"), "alice", RANDOM);
        RawClient client = new RawClient("n,,", "n=,r=abcdef");
        String serverFirst = new String(server.serverFirst(client.first()), ISO_8859_1);
        String nonce = parse(serverFirst).get("r");
        String withoutProof = template.contains(",p={P}")
                ? template.substring(0, template.indexOf(",p={P}")).replace("{N}", nonce) : "";
        String message = template.replace("{N}", nonce)
                .replace("{P}", client.proof(serverFirst, "pw", withoutProof));
        ProtocolException e = assertThrows(ProtocolException.class, () -> server.serverFinal(message.getBytes(ISO_8859_1)));
        assertSame(SqlState.PROTOCOL_VIOLATION, e.sqlState(), e.getMessage());
        assertThrows(IllegalStateException.class, () -> server.serverFinal(message.getBytes(ISO_8859_1)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"{C}{S}x", "{C}", "{C}{s}", "x{C}{S}", "{S}{C}"})
    void nonceMismatchIsAProtocolViolation(String nonceTemplate) {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("pw"), "alice", RANDOM);
        RawClient client = new RawClient("n,,", "n=,r=abcdef");
        String serverFirst = new String(server.serverFirst(client.first()), ISO_8859_1);
        String serverPart = parse(serverFirst).get("r").substring("abcdef".length());
        String flipped = (serverPart.charAt(0) == 'A' ? "B" : "A") + serverPart.substring(1);
        String nonce = nonceTemplate.replace("{C}", "abcdef").replace("{S}", serverPart).replace("{s}", flipped);
        String withoutProof = "c=biws,r=" + nonce;
        // The proof is right for the message as sent, so only the nonce check can refuse it.
        String message = withoutProof + ",p=" + client.proof(serverFirst, "pw", withoutProof);
        ProtocolException e = assertThrows(ProtocolException.class, () -> server.serverFinal(message.getBytes(ISO_8859_1)));
        assertSame(SqlState.PROTOCOL_VIOLATION, e.sqlState());
        assertTrue(e.getMessage().contains("nonce"), e.getMessage());
    }

    // ---- call order ----

    @Test
    void serverFinalBeforeServerFirstIsIllegal() {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("pw"), "alice", RANDOM);
        assertThrows(IllegalStateException.class, () -> server.serverFinal("c=biws,r=x,p=y".getBytes(UTF_8)));
    }

    @Test
    void serverFirstTwiceIsIllegal() {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate("pw"), "alice", RANDOM);
        server.serverFirst("n,,n=,r=abc".getBytes(UTF_8));
        assertThrows(IllegalStateException.class, () -> server.serverFirst("n,,n=,r=abc".getBytes(UTF_8)));
    }

    @Test
    void nothingAfterSuccess() throws Exception {
        ScramVerifier verifier = ScramVerifier.generate("pw");
        ScramServerExchange server = new ScramServerExchange(verifier, "alice", RANDOM);
        RawClient client = new RawClient("n,,", "n=,r=abcdef");
        String serverFirst = new String(server.serverFirst(client.first()), ISO_8859_1);
        byte[] finalMessage = client.finalMessage(serverFirst, "pw", "biws", "");
        byte[] serverFinal = server.serverFinal(finalMessage);
        assertArrayEquals(client.expectedServerFinal(serverFirst, "pw", "biws", ""), serverFinal);
        assertThrows(IllegalStateException.class, () -> server.serverFinal(finalMessage));
        assertThrows(IllegalStateException.class, () -> server.serverFirst(client.first()));
    }

    // ---- helpers ----

    /** A full exchange with a hand-built client; returns normally only on success. */
    private static void rawExchange(String password, String gs2, String bare, String cbind, String finalExtensions)
            throws AuthenticationFailedException {
        ScramServerExchange server = new ScramServerExchange(ScramVerifier.generate(password), "alice", RANDOM);
        RawClient client = new RawClient(gs2, bare);
        String serverFirst = new String(server.serverFirst(client.first()), ISO_8859_1);
        byte[] serverFinal = server.serverFinal(client.finalMessage(serverFirst, password, cbind, finalExtensions));
        assertArrayEquals(client.expectedServerFinal(serverFirst, password, cbind, finalExtensions), serverFinal);
    }

    private static String saltOf(ScramVerifier verifier, String user, byte[] secret) {
        return serverFirstOf(new ScramServerExchange(verifier, user, RANDOM, secret)).get("s");
    }

    private static Map<String, String> serverFirstOf(ScramServerExchange server) {
        return parse(new String(server.serverFirst("n,,n=,r=clientnonce123".getBytes(UTF_8)), UTF_8));
    }

    private static Map<String, String> parse(String serverFirst) {
        assertTrue(SERVER_FIRST.matcher(serverFirst).matches(), serverFirst);
        return Stream.of(serverFirst.split(","))
                .collect(Collectors.toMap(kv -> kv.substring(0, 1), kv -> kv.substring(2)));
    }

    /**
     * A SCRAM client over raw bytes (one char per byte), for messages ScramClient will not build:
     * libpq's empty user name, non-UTF-8 user names, "y" flag, extensions, bad nonces. The
     * arithmetic is scram-common's, independent of the server code under test.
     */
    private static final class RawClient {
        private final String gs2;
        private final String bare;

        RawClient(String gs2, String bare) {
            this.gs2 = gs2;
            this.bare = bare;
        }

        byte[] first() {
            return (gs2 + bare).getBytes(ISO_8859_1);
        }

        byte[] finalMessage(String serverFirst, String password, String cbind, String extensions) {
            String withoutProof = "c=" + cbind + ",r=" + parse(serverFirst).get("r") + extensions;
            return (withoutProof + ",p=" + proof(serverFirst, password, withoutProof)).getBytes(ISO_8859_1);
        }

        byte[] expectedServerFinal(String serverFirst, String password, String cbind, String extensions) {
            String withoutProof = "c=" + cbind + ",r=" + parse(serverFirst).get("r") + extensions;
            byte[] serverKey = ScramFunctions.serverKey(ScramMechanism.SCRAM_SHA_256, salted(serverFirst, password));
            byte[] signature = ScramFunctions.hmac(ScramMechanism.SCRAM_SHA_256, serverKey,
                    authMessage(serverFirst, withoutProof));
            return ("v=" + Base64.getEncoder().encodeToString(signature)).getBytes(ISO_8859_1);
        }

        String proof(String serverFirst, String password, String withoutProof) {
            byte[] clientKey = ScramFunctions.clientKey(ScramMechanism.SCRAM_SHA_256, salted(serverFirst, password));
            byte[] storedKey = ScramFunctions.storedKey(ScramMechanism.SCRAM_SHA_256, clientKey);
            byte[] signature = ScramFunctions.hmac(ScramMechanism.SCRAM_SHA_256, storedKey,
                    authMessage(serverFirst, withoutProof));
            return Base64.getEncoder().encodeToString(ScramFunctions.clientProof(clientKey, signature));
        }

        private byte[] authMessage(String serverFirst, String withoutProof) {
            return (bare + "," + serverFirst + "," + withoutProof).getBytes(ISO_8859_1);
        }

        private static byte[] salted(String serverFirst, String password) {
            Map<String, String> f = parse(serverFirst);
            return ScramFunctions.saltedPassword(ScramMechanism.SCRAM_SHA_256, StringPreparation.POSTGRESQL_PREPARATION,
                    password.toCharArray(), Base64.getDecoder().decode(f.get("s")), Integer.parseInt(f.get("i")));
        }
    }
}
