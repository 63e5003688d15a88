package dev.walkeeper.protocol.auth;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.ongres.scram.common.ScramFunctions;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.SqlState;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;

/**
 * The server side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677), behaving as PostgreSQL's
 * {@code auth-scram.c} so that libpq, pgjdbc and other PostgreSQL clients authenticate against
 * walkeeper exactly as against PostgreSQL. Only {@value #MECHANISM} is offered: without TLS there
 * is no channel to bind to, so {@code -PLUS} and {@code p=} are refused.
 *
 * <p>Differences from the RFC that PostgreSQL makes, and so do we: the {@code n=} user name in the
 * client-first-message is ignored (libpq sends it empty; the startup packet's user counts), and an
 * unknown user gets a mock exchange with a fake but stable salt that fails only at the last step,
 * so probing for user names learns nothing.
 *
 * <p>Messages are handled as raw bytes (each byte one char, ISO-8859-1) so that the AuthMessage
 * the proof is checked over is byte for byte what the client signed, whatever its encoding.
 *
 * <p>Use: {@link #serverFirst} once, then {@link #serverFinal} once. Not thread-safe: one exchange
 * belongs to one connection. After any exception the exchange is over.
 */
public final class ScramServerExchange {

    /** The SASL mechanism name to advertise in AuthenticationSASL. */
    public static final String MECHANISM = "SCRAM-SHA-256";

    /** Random bytes in the server's nonce part, as PostgreSQL ({@code SCRAM_RAW_NONCE_LEN}). */
    static final int SERVER_NONCE_BYTES = 18;

    /** Minimum length of a caller-supplied mock secret. */
    public static final int MIN_MOCK_SECRET_LENGTH = 16;

    private enum State { AWAITING_CLIENT_FIRST, AWAITING_CLIENT_FINAL, SUCCEEDED, FAILED }

    private final String user;
    private final boolean doomed;
    private final int iterations;
    private final String saltBase64;
    private final byte[] storedKey;
    private final byte[] serverKey;
    private final String serverNonce;

    private State state = State.AWAITING_CLIENT_FIRST;
    private char cbindFlag;
    private String clientNonce;
    private String clientFirstBare;
    private String serverFirstMessage;

    /**
     * An exchange using a per-process mock secret for unknown users. Because that secret changes
     * on restart, so does an unknown user's fake salt; prefer
     * {@link #ScramServerExchange(ScramVerifier, String, SecureRandom, byte[])} with a secret kept
     * per node when restarts should not reveal which users exist.
     *
     * @param verifierOrNull the user's verifier, or null for an unknown user or one without a
     *     SCRAM verifier (e.g. only md5): a mock exchange that always fails, as PostgreSQL
     * @param user the user name from the startup packet: named in the failure message, and the
     *     input to the mock salt
     * @param random source of the server nonce
     */
    public ScramServerExchange(ScramVerifier verifierOrNull, String user, SecureRandom random) {
        this(verifierOrNull, user, random, ProcessSecret.VALUE);
    }

    /**
     * As {@link #ScramServerExchange(ScramVerifier, String, SecureRandom)}, with the secret that
     * the fake salt of an unknown user is derived from (like PostgreSQL's per-cluster
     * {@code mock_authentication_nonce}); at least {@value #MIN_MOCK_SECRET_LENGTH} bytes.
     */
    public ScramServerExchange(ScramVerifier verifierOrNull, String user, SecureRandom random, byte[] mockSecret) {
        this(verifierOrNull, user, mockSecret, newServerNonce(Objects.requireNonNull(random, "random")));
    }

    /** With a fixed server nonce part: only for reproducing published test vectors. */
    ScramServerExchange(ScramVerifier verifierOrNull, String user, byte[] mockSecret, String serverNonce) {
        this.user = Objects.requireNonNull(user, "user");
        Objects.requireNonNull(mockSecret, "mockSecret");
        if (mockSecret.length < MIN_MOCK_SECRET_LENGTH) {
            throw new IllegalArgumentException("mock secret must be at least " + MIN_MOCK_SECRET_LENGTH + " bytes");
        }
        this.serverNonce = Objects.requireNonNull(serverNonce, "serverNonce");
        if (verifierOrNull != null) {
            doomed = false;
            iterations = verifierOrNull.iterations();
            saltBase64 = verifierOrNull.saltBase64();
            storedKey = verifierOrNull.storedKey();
            serverKey = verifierOrNull.serverKey();
        } else {
            // PostgreSQL's mock: default iterations, salt from SHA-256(user || secret), keys that
            // no proof can match (and doomed anyway). The proof is still computed at the final
            // step so the timing matches a real user's.
            doomed = true;
            iterations = ScramVerifier.DEFAULT_ITERATIONS;
            saltBase64 = Base64.getEncoder().encodeToString(mockSalt(user, mockSecret));
            storedKey = new byte[ScramVerifier.KEY_LENGTH];
            serverKey = new byte[ScramVerifier.KEY_LENGTH];
        }
    }

    /**
     * Reads the client-first-message (the SASLInitialResponse data) and returns the
     * server-first-message {@code r=<client nonce><server nonce>,s=<salt>,i=<iterations>}.
     *
     * @throws ProtocolException 08P01 if the message is malformed or asks for channel binding;
     *     0A000 if it uses an authorization identity or a mandatory extension, as PostgreSQL
     * @throws IllegalStateException if called more than once
     */
    public byte[] serverFirst(byte[] clientFirstMessage) {
        Objects.requireNonNull(clientFirstMessage, "clientFirstMessage");
        expect(State.AWAITING_CLIENT_FIRST, "serverFirst");
        state = State.FAILED;
        Cursor in = new Cursor(text(clientFirstMessage));

        char flag = in.next();
        switch (flag) {
            // 'y' (client could bind but thinks we cannot) is fine while we offer no -PLUS; once
            // TLS and -PLUS exist it must be refused as a downgrade, as PostgreSQL does under SSL.
            case 'n', 'y' -> in.expectComma("after the channel-binding flag");
            case 'p' -> throw malformed("the client requires channel binding (SCRAM-SHA-256-PLUS), "
                    + "but only SCRAM-SHA-256 was offered");
            default -> throw malformed("unexpected channel-binding flag " + Cursor.describe(flag));
        }
        if (in.peek() == 'a') {
            throw new ProtocolException(SqlState.FEATURE_NOT_SUPPORTED,
                    "client uses authorization identity, but it is not supported");
        }
        in.expectComma("in the GS2 header");
        String bare = in.rest();
        if (in.peek() == 'm') {
            throw new ProtocolException(SqlState.FEATURE_NOT_SUPPORTED,
                    "client requires an unsupported SCRAM extension");
        }
        in.readAttribute('n'); // ignored, as PostgreSQL: the startup packet's user counts
        in.expectComma("after the user name");
        String nonce = in.readAttribute('r');
        if (nonce.isEmpty()) {
            throw malformed("empty nonce in client-first-message");
        }
        if (!isPrintable(nonce)) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "non-printable characters in SCRAM nonce");
        }
        while (!in.atEnd()) { // optional extensions: ignored, as PostgreSQL
            in.expectComma("between attributes");
            in.readAnyAttribute();
        }

        cbindFlag = flag;
        clientNonce = nonce;
        clientFirstBare = bare;
        serverFirstMessage = "r=" + clientNonce + serverNonce + ",s=" + saltBase64 + ",i=" + iterations;
        state = State.AWAITING_CLIENT_FINAL;
        return serverFirstMessage.getBytes(ISO_8859_1);
    }

    /**
     * Reads the client-final-message (the SASLResponse data), checks the proof, and returns the
     * server-final-message {@code v=<server signature>} for AuthenticationSASLFinal.
     *
     * @throws AuthenticationFailedException if the proof is wrong, or always for an unknown user
     * @throws ProtocolException 08P01 if the message is malformed, its channel-binding data does
     *     not repeat the GS2 header, or its nonce is not the one the server sent
     * @throws IllegalStateException unless {@link #serverFirst} has succeeded and this was not
     *     called yet
     */
    public byte[] serverFinal(byte[] clientFinalMessage) throws AuthenticationFailedException {
        Objects.requireNonNull(clientFinalMessage, "clientFinalMessage");
        expect(State.AWAITING_CLIENT_FINAL, "serverFinal");
        state = State.FAILED;
        String message = text(clientFinalMessage);
        Cursor in = new Cursor(message);

        String cbind = in.readAttribute('c');
        // Without channel binding, c= is base64 of the GS2 header: "n,," or "y,," (no authzid).
        String expectedCbind = cbindFlag == 'n' ? "biws" : "eSws";
        if (!cbind.equals(expectedCbind)) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION,
                    "unexpected SCRAM channel-binding attribute in client-final-message");
        }
        in.expectComma("after the channel-binding data");
        String finalNonce = in.readAttribute('r');
        int proofComma;
        char attribute;
        String proofBase64;
        do { // optional extensions before p=: ignored, as PostgreSQL
            if (in.atEnd()) {
                throw malformed("no proof in client-final-message");
            }
            proofComma = in.position();
            in.expectComma("between attributes");
            attribute = in.peek();
            proofBase64 = in.readAnyAttribute();
        } while (attribute != 'p');
        if (!in.atEnd()) {
            throw malformed("garbage found at the end of client-final-message");
        }
        byte[] proof = decodeProof(proofBase64);

        if (!finalNonce.equals(clientNonce + serverNonce)) {
            throw new ProtocolException(SqlState.PROTOCOL_VIOLATION, "invalid SCRAM response: nonce does not match");
        }

        byte[] authMessage = (clientFirstBare + ',' + serverFirstMessage + ',' + message.substring(0, proofComma))
                .getBytes(ISO_8859_1);
        byte[] clientSignature = ScramFunctions.hmac(ScramVerifier.MECHANISM, storedKey, authMessage);
        // ClientKey = ClientProof XOR ClientSignature (the library names its XOR "clientProof").
        byte[] clientKey = ScramFunctions.clientProof(proof, clientSignature);
        boolean proofOk = MessageDigest.isEqual(ScramFunctions.hash(ScramVerifier.MECHANISM, clientKey), storedKey);
        Arrays.fill(clientKey, (byte) 0);
        if (!proofOk || doomed) {
            throw new AuthenticationFailedException(user);
        }
        byte[] serverSignature = ScramFunctions.hmac(ScramVerifier.MECHANISM, serverKey, authMessage);
        state = State.SUCCEEDED;
        return ("v=" + Base64.getEncoder().encodeToString(serverSignature)).getBytes(ISO_8859_1);
    }

    private void expect(State wanted, String method) {
        if (state != wanted) {
            throw new IllegalStateException(method + "() called in state " + state);
        }
    }

    /**
     * As PostgreSQL: an empty message or one with a NUL byte (its C string would be shorter than
     * the length sent) is malformed.
     */
    private static String text(byte[] message) {
        if (message.length == 0) {
            throw malformed("empty message");
        }
        for (byte b : message) {
            if (b == 0) {
                throw malformed("NUL byte in message");
            }
        }
        return new String(message, ISO_8859_1);
    }

    private static byte[] decodeProof(String base64) {
        byte[] proof;
        try {
            proof = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            throw malformed("malformed proof in client-final-message");
        }
        if (proof.length != ScramVerifier.KEY_LENGTH) {
            throw malformed("malformed proof in client-final-message");
        }
        return proof;
    }

    /** RFC 5802 {@code printable}: %x21-2B / %x2D-7E, i.e. visible ASCII but ','. */
    private static boolean isPrintable(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x21 || c > 0x7E || c == ',') {
                return false;
            }
        }
        return true;
    }

    static byte[] mockSalt(String user, byte[] secret) {
        try {
            MessageDigest sha256 = MessageDigest.getInstance("SHA-256");
            sha256.update(user.getBytes(UTF_8));
            sha256.update(secret);
            return Arrays.copyOf(sha256.digest(), ScramVerifier.DEFAULT_SALT_LENGTH);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 unavailable", e);
        }
    }

    private static String newServerNonce(SecureRandom random) {
        byte[] raw = new byte[SERVER_NONCE_BYTES];
        random.nextBytes(raw);
        return Base64.getEncoder().encodeToString(raw);
    }

    private static ProtocolException malformed(String detail) {
        return new ProtocolException(SqlState.PROTOCOL_VIOLATION, "malformed SCRAM message: " + detail);
    }

    /**
     * Reads {@code attr=value} pairs. Values end at ',' or at the end; the cursor stops on the
     * comma so the caller says what may follow. Messages never quote client text beyond one
     * sanitised character.
     */
    private static final class Cursor {
        private static final char END = '\0'; // cannot occur: NUL bytes are refused up front
        private final String s;
        private int pos;

        Cursor(String s) {
            this.s = s;
        }

        int position() {
            return pos;
        }

        boolean atEnd() {
            return pos >= s.length();
        }

        char peek() {
            return atEnd() ? END : s.charAt(pos);
        }

        char next() {
            char c = peek();
            if (c != END) {
                pos++;
            }
            return c;
        }

        String rest() {
            return s.substring(pos);
        }

        void expectComma(String where) {
            char c = next();
            if (c != ',') {
                throw malformed("expected ',' " + where + ", found " + describe(c));
            }
        }

        /** {@code attr "=" value} for the given attribute. */
        String readAttribute(char attr) {
            char c = next();
            if (c != attr) {
                throw malformed("expected attribute '" + attr + "', found " + describe(c));
            }
            return valueAfterEquals(attr);
        }

        /** Any {@code ALPHA "=" value}; returns the value. */
        String readAnyAttribute() {
            char c = next();
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
                throw malformed("expected an attribute, found " + describe(c));
            }
            return valueAfterEquals(c);
        }

        private String valueAfterEquals(char attr) {
            if (next() != '=') {
                throw malformed("expected '=' after attribute '" + attr + "'");
            }
            int end = s.indexOf(',', pos);
            if (end < 0) {
                end = s.length();
            }
            String value = s.substring(pos, end);
            pos = end;
            return value;
        }

        static String describe(char c) {
            if (c == END) {
                return "end of message";
            }
            return c >= 0x21 && c <= 0x7E ? "'" + c + "'" : String.format("byte 0x%02x", (int) c);
        }
    }

    private static final class ProcessSecret {
        static final byte[] VALUE = new byte[32];

        static {
            new SecureRandom().nextBytes(VALUE);
        }
    }
}
