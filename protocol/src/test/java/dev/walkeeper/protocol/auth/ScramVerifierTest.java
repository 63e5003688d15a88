package dev.walkeeper.protocol.auth;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Base64;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ScramVerifierTest {

    /**
     * RFC 7677 section 3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations. The
     * RFC publishes only the exchange; the keys below were computed independently (Python hashlib
     * PBKDF2/HMAC) and are confirmed by the RFC's own server signature, which
     * ScramServerExchangeTest reproduces from this verifier. (The ServerKey sometimes quoted for
     * this vector, U+ppxD5X..., does not reproduce the RFC's v= and is wrong.)
     */
    static final String RFC7677_VERIFIER = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="
            + "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

    @Test
    void rfc7677VectorFromPassword() {
        byte[] salt = Base64.getDecoder().decode("W22ZaJ0SNY7soEsUEjb6gQ==");
        assertEquals(RFC7677_VERIFIER, ScramVerifier.fromPassword("pencil", salt, 4096).format());
    }

    /**
     * Verifiers copied from pg_authid.rolpassword of a real PostgreSQL 15.18 (UTF8 database),
     * made with CREATE ROLE ... PASSWORD. They cover SASLprep: U+2168 (ROMAN NUMERAL NINE) and
     * "I<soft hyphen>X" normalise to "IX"; "\uFB01x\u00AAy" normalises to "fixay"; a private-use
     * character, a tab, and a password that SASLprep maps to nothing all fall back to raw bytes.
     */
    static Stream<Arguments> postgres15Verifiers() {
        return Stream.of(
                Arguments.of("pencil", "SCRAM-SHA-256$4096:cegOCgvIQI9Xbbn9QCehaA==$wKTzk76AlSWDn1ga2GhVnFHGjRmu5zqwC5J97iHShDA=:iVRDq+bG+1RSR5Y+CoVRKjaUqPwa9oylAy7exhByqsA="),
                Arguments.of("IX", "SCRAM-SHA-256$4096:yg7EXkvEzlhoUpx89NTmug==$LDYvuQ94cnI/Md+/802ke/VQqczBPURRVsFJ9NSHS4E=:+YjwXY0AJuFJMH48jS1HAsgFAFvinrrEOtkhJoBJ1Tg="),
                Arguments.of("\u2168", "SCRAM-SHA-256$4096:a2X6UV+dtHNOciapTBjELQ==$tYAmXNjxwbfpMMId91pRt/c1sZ7kl4kPRnjIslD7YiQ=:CXd2Or9VrulX14qSMxjilrLZiR9kei6iMENZ3YzuKEs="),
                Arguments.of("I\u00ADX", "SCRAM-SHA-256$4096:pWn0Flx7+QnZ/3kNoXXj9Q==$dBaYcovfUUulHIxw+TxkrRSL6r8LbmyrjteEVZXPl+s=:l2HoboYBRUn2SHF7Cyd/riuq8zjFEkud9yykIDP0Q08="),
                Arguments.of("\uFB01x\u00AAy", "SCRAM-SHA-256$4096:aTW4E+Z3+7qOtJzrpfeGVA==$ZV/dmsyQkbOlPa6e5Aqs7MWFLZzStd5ldY1JY0FvK6M=:XEBi0lJeefOiO+YgyjCzxzCO5bEEqxXtwWXOQ1FwOUw="),
                Arguments.of("x\uE000y", "SCRAM-SHA-256$4096:1YaS+eNigkBQibdMcWUuRQ==$/JCD5P22ISw1ZieX33yTha/Wh1n/PtrphV9K/8UvuZc=:JqgcYK3kYAhv10yfj4BGHl8CJ9YbefYPMnuCfRF6T38="),
                Arguments.of("a\tb", "SCRAM-SHA-256$4096:5s00c+yMajPmA4Bpxg7+LA==$3uAyud1ohF6n3Fio2TzAo3O83q8DBqYGM5nk/IsId9A=:/cRYXyVXaOweyy0X7kxqjaZ/F6zsoT5w2J6JBUW4CgA="),
                Arguments.of("\u00AD", "SCRAM-SHA-256$4096:zBGAVTJCspjBG4YP7ov1lA==$EV60yHLjrTt/BXN+shdr4+LPTMDGTCvO472b1NH029A=:A12PdkjT8AuvxDxhpqnZ3FNdpQXDWxbtzCtRm6WJjk4="));
    }

    @ParameterizedTest
    @MethodSource("postgres15Verifiers")
    void matchesPostgres15(String password, String stored) {
        ScramVerifier parsed = ScramVerifier.parse(stored);
        assertEquals(stored, ScramVerifier.fromPassword(password, parsed.salt(), parsed.iterations()).format());
        assertTrue(parsed.verifiesPassword(password));
        assertFalse(parsed.verifiesPassword(password + "x"));
    }

    @Test
    void saslPrepEquivalentPasswordsVerify() {
        ScramVerifier roman = ScramVerifier.parse(
                "SCRAM-SHA-256$4096:a2X6UV+dtHNOciapTBjELQ==$tYAmXNjxwbfpMMId91pRt/c1sZ7kl4kPRnjIslD7YiQ=:CXd2Or9VrulX14qSMxjilrLZiR9kei6iMENZ3YzuKEs=");
        assertTrue(roman.verifiesPassword("IX"));
        assertTrue(roman.verifiesPassword("I\u00ADX"));
        assertFalse(roman.verifiesPassword("ix"));
    }

    @Test
    void verifiesPasswordChecksBothKeys() {
        // A verifier whose StoredKey does not belong with its ServerKey could never pass a SCRAM
        // exchange, so the cleartext method must not accept it either.
        ScramVerifier v = ScramVerifier.parse(RFC7677_VERIFIER);
        byte[] stored = v.storedKey();
        stored[7] ^= 0x40;
        assertFalse(new ScramVerifier(v.iterations(), v.salt(), stored, v.serverKey()).verifiesPassword("pencil"));
        byte[] server = v.serverKey();
        server[7] ^= 0x40;
        assertFalse(new ScramVerifier(v.iterations(), v.salt(), v.storedKey(), server).verifiesPassword("pencil"));
        assertTrue(v.verifiesPassword("pencil"));
    }

    @Test
    void emptyPasswordIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> ScramVerifier.generate(""));
        assertFalse(ScramVerifier.parse(RFC7677_VERIFIER).verifiesPassword(""));
    }

    @Test
    void generateUsesPostgresDefaultsAndFreshSalt() {
        ScramVerifier a = ScramVerifier.generate("correct horse");
        ScramVerifier b = ScramVerifier.generate("correct horse");
        assertEquals(4096, a.iterations());
        assertEquals(16, a.salt().length);
        assertFalse(java.util.Arrays.equals(a.salt(), b.salt()));
        assertNotEquals(a, b);
        assertTrue(a.verifiesPassword("correct horse"));
        assertFalse(a.verifiesPassword("correct horsf"));
    }

    @Test
    void parseFormatRoundTrip() {
        ScramVerifier v = ScramVerifier.parse(RFC7677_VERIFIER);
        assertEquals(4096, v.iterations());
        assertArrayEquals(Base64.getDecoder().decode("W22ZaJ0SNY7soEsUEjb6gQ=="), v.salt());
        assertArrayEquals(Base64.getDecoder().decode("WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="), v.storedKey());
        assertArrayEquals(Base64.getDecoder().decode("wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="), v.serverKey());
        assertEquals(RFC7677_VERIFIER, v.format());
        assertEquals(v, ScramVerifier.parse(v.format()));
        assertEquals(v.hashCode(), ScramVerifier.parse(v.format()).hashCode());
        ScramVerifier other = ScramVerifier.generate("x1");
        assertEquals(other, ScramVerifier.parse(other.format()));
    }

    @Test
    void equalityCoversEveryComponent() {
        ScramVerifier v = ScramVerifier.parse(RFC7677_VERIFIER);
        byte[] flipped = v.serverKey();
        flipped[0] ^= 1;
        assertNotEquals(v, new ScramVerifier(v.iterations(), v.salt(), v.storedKey(), flipped));
        flipped = v.storedKey();
        flipped[31] ^= 1;
        assertNotEquals(v, new ScramVerifier(v.iterations(), v.salt(), flipped, v.serverKey()));
        flipped = v.salt();
        flipped[3] ^= 1;
        assertNotEquals(v, new ScramVerifier(v.iterations(), flipped, v.storedKey(), v.serverKey()));
        assertNotEquals(v, new ScramVerifier(4097, v.salt(), v.storedKey(), v.serverKey()));
        assertEquals(v, new ScramVerifier(v.iterations(), v.salt(), v.storedKey(), v.serverKey()));
    }

    @Test
    void arraysAreCopied() {
        ScramVerifier v = ScramVerifier.parse(RFC7677_VERIFIER);
        v.storedKey()[0] ^= 1;
        v.serverKey()[0] ^= 1;
        v.salt()[0] ^= 1;
        byte[] key = v.storedKey();
        ScramVerifier made = new ScramVerifier(4096, v.salt(), key, v.serverKey());
        key[0] ^= 1;
        assertEquals(RFC7677_VERIFIER, v.format());
        assertEquals(RFC7677_VERIFIER, made.format());
    }

    @Test
    void toStringHidesKeys() {
        ScramVerifier v = ScramVerifier.parse(RFC7677_VERIFIER);
        String s = v.toString();
        assertTrue(s.contains("4096"), s);
        for (String secret : new String[] {"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
                "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=", "WG5d8o", "wfPLwc", "586e5d"}) {
            assertFalse(s.contains(secret), s);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "",
        "pencil",
        "md553f48b7c4b76a86ce72276c5755f217d",
        "SCRAM-SHA-1$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "scram-sha-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:",
        "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$-1:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4x:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4294967296:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22Z!J0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4q==:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:W22ZaJ0SNY7soEsUEjb6gQ==",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\n",
        " SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=$extra",
    })
    void parseRejects(String text) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ScramVerifier.parse(text));
        assertTrue(e.getMessage().contains("SCRAM-SHA-256"), e.getMessage());
    }

    @Test
    void constructorValidates() {
        byte[] key = new byte[32];
        assertThrows(IllegalArgumentException.class, () -> new ScramVerifier(0, new byte[16], key, key));
        assertThrows(IllegalArgumentException.class, () -> new ScramVerifier(4096, new byte[0], key, key));
        assertThrows(IllegalArgumentException.class, () -> new ScramVerifier(4096, new byte[16], new byte[31], key));
        assertThrows(IllegalArgumentException.class, () -> new ScramVerifier(4096, new byte[16], key, new byte[33]));
        assertThrows(NullPointerException.class, () -> ScramVerifier.parse(null));
    }
}
