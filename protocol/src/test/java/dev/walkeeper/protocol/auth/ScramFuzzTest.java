package dev.walkeeper.protocol.auth;

import static dev.walkeeper.protocol.DecoderContract.decodesOrRefuses;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;

/**
 * SCRAM parsing under arbitrary input: the client's messages are answered or refused with a
 * ProtocolException (a wrong proof with AuthenticationFailedException), the stored verifier text
 * is parsed or refused with IllegalArgumentException; nothing else escapes.
 */
class ScramFuzzTest {
    private static final ScramVerifier VERIFIER = ScramVerifier.fromPassword("s3cret", new byte[16], 16);
    private static final SecureRandom RANDOM = new SecureRandom();

    @FuzzTest
    void clientFirstMessage(byte[] message) {
        decodesOrRefuses(() -> new ScramServerExchange(VERIFIER, "alice", RANDOM).serverFirst(message));
    }

    /** A well-formed client-first-message (so the exchange gets there), then an arbitrary final one. */
    @FuzzTest
    void clientFinalMessage(FuzzedDataProvider data) {
        var exchange = new ScramServerExchange(VERIFIER, "alice", RANDOM);
        exchange.serverFirst((data.consumeBoolean() ? "n,,n=,r=abc" : "y,,n=alice,r=abc").getBytes(StandardCharsets.US_ASCII));
        byte[] clientFinal = data.consumeRemainingAsBytes();
        decodesOrRefuses(() -> {
            try {
                return exchange.serverFinal(clientFinal);
            } catch (AuthenticationFailedException e) {
                return e;
            }
        });
    }

    @FuzzTest
    void storedVerifier(byte[] input) {
        String text = new String(input, StandardCharsets.UTF_8);
        try {
            ScramVerifier.parse(text);
        } catch (IllegalArgumentException expected) {
            // the documented refusal
        }
    }
}
