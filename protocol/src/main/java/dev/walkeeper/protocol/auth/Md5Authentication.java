package dev.walkeeper.protocol.auth;

import static java.nio.charset.StandardCharsets.US_ASCII;
import static java.nio.charset.StandardCharsets.UTF_8;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;

/**
 * PostgreSQL's legacy {@code md5} password method, kept because older clients and existing
 * {@code pg_authid} entries still use it. The stored verifier is {@code "md5" + hex(md5(password
 * + user))}; on the wire the client proves knowledge of that verifier (not of the password) with a
 * fresh 4-byte salt: {@code "md5" + hex(md5(hex(md5(password + user)) + salt))}. Strings are
 * hashed as UTF-8 bytes, hex is lower case, as PostgreSQL's {@code pg_md5_encrypt}.
 */
public final class Md5Authentication {

    private static final String PREFIX = "md5";
    private static final int SALT_LENGTH = 4;
    private static final int VERIFIER_LENGTH = 35; // "md5" + 32 hex digits
    private static final HexFormat HEX = HexFormat.of(); // lower case

    private Md5Authentication() {}

    /**
     * The {@code pg_authid.rolpassword} form for {@code user}'s {@code password}.
     *
     * @throws IllegalArgumentException if the password is empty (PostgreSQL refuses to store one)
     */
    public static String verifier(String user, String password) {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(password, "password");
        if (password.isEmpty()) {
            throw new IllegalArgumentException("empty password");
        }
        return PREFIX + HEX.formatHex(md5((password + user).getBytes(UTF_8), new byte[0]));
    }

    /** What a client sends in its PasswordMessage for an AuthenticationMD5Password salt. */
    public static String clientResponse(String user, String password, byte[] salt4) {
        checkSalt(salt4);
        return saltedResponse(verifier(user, password), salt4);
    }

    /**
     * Whether {@code response} is the right answer for {@code salt4} given the stored md5
     * verifier. Constant-time in the response's content. A stored verifier that is not in md5
     * form (e.g. a SCRAM verifier, from which no md5 answer can be derived) never matches, as in
     * PostgreSQL.
     */
    public static boolean checkResponse(String storedVerifier, byte[] salt4, String response) {
        Objects.requireNonNull(storedVerifier, "storedVerifier");
        Objects.requireNonNull(response, "response");
        checkSalt(salt4);
        if (!isVerifier(storedVerifier)) {
            return false;
        }
        byte[] expected = saltedResponse(storedVerifier, salt4).getBytes(US_ASCII);
        return MessageDigest.isEqual(expected, response.getBytes(UTF_8));
    }

    /**
     * Whether {@code text} is an md5 verifier as PostgreSQL recognises one: {@code "md5"} and 32
     * lower-case hex digits.
     */
    public static boolean isVerifier(String text) {
        if (text == null || text.length() != VERIFIER_LENGTH || !text.startsWith(PREFIX)) {
            return false;
        }
        for (int i = PREFIX.length(); i < VERIFIER_LENGTH; i++) {
            char c = text.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }

    /** md5 over the 32 hex characters (as ASCII) followed by the 4 raw salt bytes. */
    private static String saltedResponse(String md5Verifier, byte[] salt4) {
        byte[] innerHex = md5Verifier.substring(PREFIX.length()).getBytes(US_ASCII);
        return PREFIX + HEX.formatHex(md5(innerHex, salt4));
    }

    private static void checkSalt(byte[] salt4) {
        Objects.requireNonNull(salt4, "salt4");
        if (salt4.length != SALT_LENGTH) {
            throw new IllegalArgumentException("md5 salt must be 4 bytes, got " + salt4.length);
        }
    }

    private static byte[] md5(byte[] first, byte[] second) {
        try {
            MessageDigest md5 = MessageDigest.getInstance("MD5");
            md5.update(first);
            md5.update(second);
            return md5.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 unavailable", e);
        }
    }
}
