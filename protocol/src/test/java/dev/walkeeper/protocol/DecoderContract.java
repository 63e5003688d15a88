package dev.walkeeper.protocol;

import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.walkeeper.protocol.pg.ProtocolException;
import java.util.function.Supplier;

/**
 * The contract every wire decoder keeps for the fuzz tests: any input decodes or is refused with a
 * {@link ProtocolException} carrying an SQLSTATE. Any other exception (index, null, negative
 * size, out of memory) propagates and is a finding.
 */
public final class DecoderContract {
    private DecoderContract() {}

    /** Runs {@code decode}; its result (if any) must not be null. */
    public static void decodesOrRefuses(Supplier<?> decode) {
        Object decoded;
        try {
            decoded = decode.get();
        } catch (ProtocolException e) {
            assertNotNull(e.sqlState(), "ProtocolException without an SQLSTATE");
            return;
        }
        assertNotNull(decoded, "decoder returned null");
    }
}
