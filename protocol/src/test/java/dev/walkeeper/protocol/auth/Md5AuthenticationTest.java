package dev.walkeeper.protocol.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class Md5AuthenticationTest {

    /**
     * md5("secretpostgres") = 53f48b7c4b76a86ce72276c5755f217d (printf secretpostgres | md5sum),
     * and the same string PostgreSQL 15 stored in pg_authid after
     * {@code SET password_encryption = 'md5'; ALTER ROLE postgres PASSWORD 'secret'}.
     */
    private static final String POSTGRES_SECRET = "md553f48b7c4b76a86ce72276c5755f217d";

    /**
     * Salt 01 02 03 04: md5 of the 32 ASCII hex characters above followed by the four raw bytes,
     * {@code printf '53f48b7c4b76a86ce72276c5755f217d\x01\x02\x03\x04' | md5sum}.
     */
    private static final byte[] SALT_1234 = {1, 2, 3, 4};
    private static final String RESPONSE_1234 = "md5bb41a296aab6baccb36ff243a562abff";

    /** Salt de ad be ef (bytes above 0x7f must be hashed raw, not as chars): Python hashlib. */
    private static final byte[] SALT_DEADBEEF = {(byte) 0xde, (byte) 0xad, (byte) 0xbe, (byte) 0xef};
    private static final String RESPONSE_DEADBEEF = "md5c546d0bbed2af888b328536b45c76348";

    @Test
    void verifierMatchesPostgres() {
        assertEquals(POSTGRES_SECRET, Md5Authentication.verifier("postgres", "secret"));
        // user is the salt: order matters
        assertFalse(Md5Authentication.verifier("secret", "postgres").equals(POSTGRES_SECRET));
    }

    @Test
    void clientResponseKnownVectors() {
        assertEquals(RESPONSE_1234, Md5Authentication.clientResponse("postgres", "secret", SALT_1234));
        assertEquals(RESPONSE_DEADBEEF, Md5Authentication.clientResponse("postgres", "secret", SALT_DEADBEEF));
    }

    @Test
    void checkResponseAcceptsTheRightAnswer() {
        assertTrue(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_1234, RESPONSE_1234));
        assertTrue(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_DEADBEEF, RESPONSE_DEADBEEF));
        byte[] salt = {9, 8, 7, 6};
        assertTrue(Md5Authentication.checkResponse(Md5Authentication.verifier("alice", "pw\u00e9"), salt,
                Md5Authentication.clientResponse("alice", "pw\u00e9", salt)));
    }

    @Test
    void checkResponseRejectsWrongAnswers() {
        assertFalse(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_DEADBEEF, RESPONSE_1234)); // other salt
        assertFalse(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_1234,
                Md5Authentication.clientResponse("postgres", "Secret", SALT_1234)));
        assertFalse(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_1234,
                Md5Authentication.clientResponse("postgre", "secret", SALT_1234)));
        assertFalse(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_1234, RESPONSE_1234.toUpperCase()));
        assertFalse(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_1234, RESPONSE_1234 + " "));
        assertFalse(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_1234, ""));
        // Replaying the stored verifier itself is no answer.
        assertFalse(Md5Authentication.checkResponse(POSTGRES_SECRET, SALT_1234, POSTGRES_SECRET));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "",
        "secret",
        "md5",
        "md553f48b7c4b76a86ce72276c5755f217",
        "md553f48b7c4b76a86ce72276c5755f217d0",
        "md553F48B7C4B76A86CE72276C5755F217D",
        "MD553f48b7c4b76a86ce72276c5755f217d",
        "md553f48b7c4b76a86ce72276c5755f217g",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
    })
    void nonMd5StoredVerifierNeverMatches(String stored) throws Exception {
        assertFalse(Md5Authentication.isVerifier(stored));
        // The answer a lax implementation would expect: md5 over whatever follows "md5" + salt.
        String tail = stored.length() > 3 ? stored.substring(3) : stored;
        java.security.MessageDigest md5 = java.security.MessageDigest.getInstance("MD5");
        md5.update(tail.getBytes(java.nio.charset.StandardCharsets.UTF_8));
        md5.update(SALT_1234);
        String forged = "md5" + java.util.HexFormat.of().formatHex(md5.digest());
        assertFalse(Md5Authentication.checkResponse(stored, SALT_1234, forged));
        assertFalse(Md5Authentication.checkResponse(stored, SALT_1234, RESPONSE_1234));
    }

    @Test
    void isVerifierAcceptsPostgresForm() {
        assertTrue(Md5Authentication.isVerifier(POSTGRES_SECRET));
        assertTrue(Md5Authentication.isVerifier(Md5Authentication.verifier("a", "b")));
    }

    @Test
    void saltMustBeFourBytes() {
        assertThrows(IllegalArgumentException.class, () -> Md5Authentication.clientResponse("u", "p", new byte[3]));
        assertThrows(IllegalArgumentException.class, () -> Md5Authentication.checkResponse(POSTGRES_SECRET, new byte[5], RESPONSE_1234));
    }

    @Test
    void emptyPasswordIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> Md5Authentication.verifier("postgres", ""));
    }
}
