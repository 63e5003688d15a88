package dev.walkeeper.protocol.pg;

import static dev.walkeeper.protocol.DecoderContract.decodesOrRefuses;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.charset.StandardCharsets;

/**
 * The wire decoders' contract under arbitrary input: every input decodes or throws a {@link
 * ProtocolException} carrying an SQLSTATE, nothing else escapes (no index, null or allocation
 * failures). Any other exception is a finding. A plain {@code mvn test} replays the inputs under
 * {@code PgDecodersFuzzTestInputs/}; {@code JAZZER_FUZZ=1} fuzzes (see the README's "Fuzzing").
 */
class PgDecodersFuzzTest {

    /** A client's stream, cut into arbitrary chunks, through the server's framer and FrontendCodec. */
    @FuzzTest
    void serverStream(FuzzedDataProvider data) {
        int maxMessageSize = data.consumeInt(4, 64 * 1024);
        decodeStream(FrameDecoder.forServer(maxMessageSize), maxMessageSize, data, true);
    }

    /** A server's stream, cut into arbitrary chunks, through the client's framer and BackendCodec. */
    @FuzzTest
    void clientStream(FuzzedDataProvider data) {
        int maxMessageSize = data.consumeInt(4, 64 * 1024);
        decodeStream(FrameDecoder.forClient(maxMessageSize), maxMessageSize, data, false);
    }

    /** A frame of any type (untyped: a startup packet) and body, as FrontendCodec takes it. */
    @FuzzTest
    void frontendMessage(byte[] input) {
        Frame frame = frameOf(input);
        decodesOrRefuses(() -> FrontendCodec.decode(frame));
    }

    @FuzzTest
    void backendMessage(byte[] input) {
        Frame frame = frameOf(input);
        decodesOrRefuses(() -> BackendCodec.decode(frame));
    }

    /** A simple Query's text, as a replication connection parses it. */
    @FuzzTest
    void replicationCommand(byte[] input) {
        String sql = new String(input, StandardCharsets.UTF_8);
        decodesOrRefuses(() -> ReplicationCommand.parse(sql));
    }

    /** The startup packet's {@code options} value: total, no exception at all. */
    @FuzzTest
    void startupOptions(byte[] input) {
        assertNotNull(StartupOptions.settings(new String(input, StandardCharsets.UTF_8)));
    }

    private static void decodeStream(FrameDecoder decoder, int maxMessageSize, FuzzedDataProvider data, boolean server) {
        long fed = 0;
        long framed = 0;
        ProtocolException failure = null;
        while (data.remainingBytes() > 0 && failure == null) {
            byte[] chunk = data.consumeBytes(data.consumeInt(1, 4096));
            decoder.feed(chunk);
            fed += chunk.length;
            while (true) {
                Frame frame;
                try {
                    frame = decoder.next();
                } catch (ProtocolException e) {
                    assertNotNull(e.sqlState());
                    failure = e;
                    break;
                }
                if (frame == null) {
                    break;
                }
                int headerSize = frame.untyped() ? 4 : 5;
                assertTrue(frame.untyped()
                        ? frame.body().length <= FrameDecoder.MAX_STARTUP_PACKET_SIZE
                        : frame.body().length <= maxMessageSize - 4, "frame over the limit: " + frame);
                framed += headerSize + frame.body().length;
                decodesOrRefuses(() -> server ? FrontendCodec.decode(frame) : BackendCodec.decode(frame));
            }
        }
        if (failure == null) {
            // Every byte fed is either in a returned frame or still buffered.
            assertEquals(fed, framed + decoder.buffered());
        } else {
            // The stream lost sync: the decoder keeps failing with the same error.
            ProtocolException first = failure;
            decoder.feed(new byte[] {1, 2, 3});
            try {
                decoder.next();
            } catch (ProtocolException again) {
                assertSame(first, again);
                return;
            }
            throw new AssertionError("next() succeeded after " + first);
        }
    }

    /** First byte: the type (0 makes the frame untyped), the rest: the body. */
    private static Frame frameOf(byte[] input) {
        if (input.length == 0) {
            return new Frame((byte) 'Q', input);
        }
        byte[] body = new byte[input.length - 1];
        System.arraycopy(input, 1, body, 0, body.length);
        return new Frame(input[0], body);
    }
}
