package dev.walkeeper.protocol.auth;

import com.ongres.scram.common.ScramFunctions;
import com.ongres.scram.common.ScramMechanism;
import com.ongres.scram.common.StringPreparation;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;

/**
 * A SCRAM-SHA-256 password verifier: what the server keeps instead of the password. It holds
 * exactly what PostgreSQL keeps in {@code pg_authid.rolpassword}, in the same text form, so an
 * operator can paste a role's verifier from PostgreSQL into walkeeper's configuration and the
 * same password works for both.
 *
 * <p>The keys are secrets (whoever has StoredKey and ServerKey can impersonate the server, and
 * StoredKey lets an attacker mount an offline dictionary attack), so {@link #toString()} never
 * prints them. Arrays are copied in and out so that a verifier cannot be changed after it is made.
 *
 * @param iterations PBKDF2 iteration count, at least 1
 * @param salt the salt, not empty
 * @param storedKey {@code H(HMAC(SaltedPassword, "Client Key"))}, 32 bytes
 * @param serverKey {@code HMAC(SaltedPassword, "Server Key")}, 32 bytes
 */
public record ScramVerifier(int iterations, byte[] salt, byte[] storedKey, byte[] serverKey) {

    /** PostgreSQL's default iteration count ({@code scram_iterations} in 16+, fixed before). */
    public static final int DEFAULT_ITERATIONS = 4096;

    /** PostgreSQL's salt length in bytes ({@code SCRAM_DEFAULT_SALT_LEN}). */
    public static final int DEFAULT_SALT_LENGTH = 16;

    /** Length of SHA-256 keys. */
    static final int KEY_LENGTH = 32;

    static final ScramMechanism MECHANISM = ScramMechanism.SCRAM_SHA_256;

    private static final String PREFIX = "SCRAM-SHA-256$";

    /** Strict form of {@code SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>}. */
    private static final Pattern FORMAT = Pattern.compile(
            "SCRAM-SHA-256\\$([0-9]{1,10}):([A-Za-z0-9+/]+={0,2})"
                    + "\\$([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})");

    public ScramVerifier {
        if (iterations < 1) {
            throw new IllegalArgumentException("SCRAM iteration count must be at least 1, got " + iterations);
        }
        Objects.requireNonNull(salt, "salt");
        Objects.requireNonNull(storedKey, "storedKey");
        Objects.requireNonNull(serverKey, "serverKey");
        if (salt.length == 0) {
            throw new IllegalArgumentException("SCRAM salt must not be empty");
        }
        if (storedKey.length != KEY_LENGTH || serverKey.length != KEY_LENGTH) {
            throw new IllegalArgumentException("SCRAM-SHA-256 StoredKey and ServerKey must be "
                    + KEY_LENGTH + " bytes, got " + storedKey.length + " and " + serverKey.length);
        }
        salt = salt.clone();
        storedKey = storedKey.clone();
        serverKey = serverKey.clone();
    }

    /**
     * Parses PostgreSQL's stored form, {@code SCRAM-SHA-256$<iterations>:<base64 salt>$<base64
     * StoredKey>:<base64 ServerKey>}, as found in {@code pg_authid.rolpassword}.
     *
     * @throws IllegalArgumentException if {@code text} is anything else (the message never repeats
     *     the text, which may be a secret pasted into the wrong field)
     */
    public static ScramVerifier parse(String text) {
        Objects.requireNonNull(text, "text");
        if (!text.startsWith(PREFIX)) {
            throw new IllegalArgumentException(
                    "not a SCRAM-SHA-256 verifier: expected it to start with \"" + PREFIX + "\"");
        }
        Matcher m = FORMAT.matcher(text);
        if (!m.matches()) {
            throw new IllegalArgumentException("malformed SCRAM-SHA-256 verifier: expected "
                    + "SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>");
        }
        long iterations = Long.parseLong(m.group(1));
        if (iterations < 1 || iterations > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("malformed SCRAM-SHA-256 verifier: iteration count "
                    + iterations + " is not between 1 and " + Integer.MAX_VALUE);
        }
        return new ScramVerifier((int) iterations, decode(m.group(2), "salt"),
                decode(m.group(3), "StoredKey"), decode(m.group(4), "ServerKey"));
    }

    /** The exact text form {@link #parse} accepts and PostgreSQL stores. */
    public String format() {
        Base64.Encoder b64 = Base64.getEncoder();
        return PREFIX + iterations + ':' + b64.encodeToString(salt) + '$'
                + b64.encodeToString(storedKey) + ':' + b64.encodeToString(serverKey);
    }

    /**
     * Computes the verifier for a password, as PostgreSQL's {@code scram_build_secret} does: the
     * password is normalised with SASLprep, but if SASLprep rejects it (prohibited characters) or
     * maps it to nothing, the password is used as it is, so such passwords still work the same way
     * against PostgreSQL and walkeeper.
     *
     * @throws IllegalArgumentException if the password is empty (PostgreSQL refuses to store one)
     */
    public static ScramVerifier fromPassword(String password, byte[] salt, int iterations) {
        Objects.requireNonNull(password, "password");
        Objects.requireNonNull(salt, "salt");
        if (password.isEmpty()) {
            throw new IllegalArgumentException("empty password");
        }
        if (iterations < 1) {
            throw new IllegalArgumentException("SCRAM iteration count must be at least 1, got " + iterations);
        }
        if (salt.length == 0) {
            throw new IllegalArgumentException("SCRAM salt must not be empty");
        }
        byte[] saltedPassword = saltedPassword(password, salt, iterations);
        try {
            byte[] clientKey = ScramFunctions.clientKey(MECHANISM, saltedPassword);
            return new ScramVerifier(iterations, salt,
                    ScramFunctions.storedKey(MECHANISM, clientKey),
                    ScramFunctions.serverKey(MECHANISM, saltedPassword));
        } finally {
            Arrays.fill(saltedPassword, (byte) 0);
        }
    }

    /** A new verifier with PostgreSQL's defaults: a random 16-byte salt and 4096 iterations. */
    public static ScramVerifier generate(String password) {
        byte[] salt = new byte[DEFAULT_SALT_LENGTH];
        Holder.RANDOM.nextBytes(salt);
        return fromPassword(password, salt, DEFAULT_ITERATIONS);
    }

    /**
     * Whether {@code cleartext} is the password this verifier was made from. Used by the
     * cleartext {@code password} method against a SCRAM verifier, as PostgreSQL's
     * {@code scram_verify_plain_password}. The comparison is constant-time. An empty password is
     * never accepted (PostgreSQL rejects it before looking at the verifier).
     */
    public boolean verifiesPassword(String cleartext) {
        Objects.requireNonNull(cleartext, "cleartext");
        if (cleartext.isEmpty()) {
            return false;
        }
        ScramVerifier computed = fromPassword(cleartext, salt, iterations);
        // Non-short-circuit '&': both comparisons always run.
        return MessageDigest.isEqual(computed.serverKey, serverKey)
                & MessageDigest.isEqual(computed.storedKey, storedKey);
    }

    @Override
    public byte[] salt() {
        return salt.clone();
    }

    @Override
    public byte[] storedKey() {
        return storedKey.clone();
    }

    @Override
    public byte[] serverKey() {
        return serverKey.clone();
    }

    /** Salt as sent in the server-first-message. */
    String saltBase64() {
        return Base64.getEncoder().encodeToString(salt);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ScramVerifier v
                && iterations == v.iterations
                && Arrays.equals(salt, v.salt)
                && MessageDigest.isEqual(storedKey, v.storedKey)
                && MessageDigest.isEqual(serverKey, v.serverKey);
    }

    @Override
    public int hashCode() {
        // Salt and iterations are public (sent to any client); keys stay out of the hash.
        return 31 * iterations + Arrays.hashCode(salt);
    }

    /** Iterations and salt only: the keys are secrets and must not reach logs. */
    @Override
    public String toString() {
        return "ScramVerifier[SCRAM-SHA-256, iterations=" + iterations + ", salt=" + saltBase64()
                + ", keys=<redacted>]";
    }

    /**
     * {@code Hi(Normalize(password), salt, i)}: PBKDF2-HMAC-SHA-256 from the JDK, over the UTF-8
     * bytes of the prepared password. The library's own {@code saltedPassword} cannot be used
     * because none of its preparations passes a password through unchanged when SASLprep fails
     * the way PostgreSQL does (see {@link #prepare}).
     */
    static byte[] saltedPassword(String password, byte[] salt, int iterations) {
        char[] prepared = prepare(password);
        PBEKeySpec spec = new PBEKeySpec(prepared, salt, iterations, KEY_LENGTH * 8);
        try {
            return SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256").generateSecret(spec).getEncoded();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("PBKDF2WithHmacSHA256 unavailable", e);
        } finally {
            spec.clearPassword();
            Arrays.fill(prepared, '\0');
        }
    }

    /**
     * SASLprep (stored-string profile) as PostgreSQL's {@code pg_saslprep}; on any failure,
     * including a result that is empty, the raw password. The library signals prohibited input
     * with IllegalArgumentException but an input that maps entirely to nothing (e.g. U+00AD)
     * with an index exception, so any runtime failure of the preparation means "use raw".
     */
    static char[] prepare(String password) {
        char[] raw = password.toCharArray();
        try {
            return StringPreparation.SASL_PREPARATION.normalize(raw.clone());
        } catch (RuntimeException saslPrepFailed) {
            return raw;
        }
    }

    private static byte[] decode(String base64, String what) {
        byte[] decoded;
        try {
            decoded = Base64.getDecoder().decode(base64);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("malformed SCRAM-SHA-256 verifier: " + what + " is not valid base64");
        }
        if (!Base64.getEncoder().encodeToString(decoded).equals(base64)) {
            throw new IllegalArgumentException("malformed SCRAM-SHA-256 verifier: " + what
                    + " is not canonical padded base64");
        }
        if (decoded.length == 0) {
            throw new IllegalArgumentException("malformed SCRAM-SHA-256 verifier: empty " + what);
        }
        if (!what.equals("salt") && decoded.length != KEY_LENGTH) {
            throw new IllegalArgumentException("malformed SCRAM-SHA-256 verifier: " + what + " is "
                    + decoded.length + " bytes, expected " + KEY_LENGTH);
        }
        return decoded;
    }

    private static final class Holder {
        static final SecureRandom RANDOM = new SecureRandom();
    }
}
