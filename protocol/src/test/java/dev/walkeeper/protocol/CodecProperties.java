package dev.walkeeper.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.walkeeper.protocol.pg.ProtocolException;
import java.util.Arrays;
import java.util.function.Consumer;
import java.util.function.Function;

/** The properties every codec's tests check: decoding fails only cleanly, and messages round-trip. */
public final class CodecProperties {
    private CodecProperties() {
    }

    /** Decodes {@code input}: a message or a {@link ProtocolException} are the only acceptable answers. */
    public static <T> void decodeOrProtocolException(T input, Function<T, ?> decode) {
        try {
            decode.apply(input);
        } catch (ProtocolException expected) {
            // The one allowed failure.
        }
    }

    /**
     * Valid wire messages with one byte changed and possibly cut, the cases closest to valid: each
     * wire gets the same drawn position, value and cut (taken modulo its length) and goes to
     * {@code decode}.
     */
    public static void corruptEach(Gen gen, Consumer<byte[]> decode, byte[]... wires) {
        int position = gen.between(0, 10_000);
        byte value = gen.anyByte();
        int cut = gen.between(0, 10_000);
        for (byte[] wire : wires) {
            wire[position % wire.length] = value;
            decode.accept(Arrays.copyOf(wire, wire.length - cut % wire.length));
        }
    }

    /** A message drawn from {@code seed} survives encode → decode unchanged. */
    public static <M> void roundTrips(long seed, Function<Gen, M> generate, Function<M, byte[]> encode,
            Function<byte[], ? extends M> decode) {
        Seeds.check(seed, gen -> {
            M message = generate.apply(gen);
            assertEquals(message, decode.apply(encode.apply(message)));
        });
    }
}
