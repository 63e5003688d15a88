package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.walkeeper.protocol.CodecProperties;
import dev.walkeeper.protocol.Gen;
import dev.walkeeper.protocol.Seeds;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Whatever a peer sends, the framers and decoders answer with a message or a
 * {@link ProtocolException} — never another exception, never an allocation sized by the peer.
 */
class CodecPropertiesTest {

    /** Type bytes both codecs know, so that arbitrary bodies reach the message decoders. */
    private static final byte[] KNOWN_TYPES = "pQXfdcRSKZTDCIEWHN".getBytes(StandardCharsets.US_ASCII);

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void serverSideSurvivesArbitraryBytes(long seed) {
        Seeds.check(seed, gen -> feedAll(FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), gen.bytes(),
                chunking(gen, 64), FrontendCodec::decode));
    }

    /** Past the startup packet, so the typed framer and decoder see the arbitrary bytes. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void serverSideSurvivesArbitraryBytesAfterAValidStartup(long seed) {
        Seeds.check(seed, gen -> feedAll(FrameDecoder.forServer(1024),
                Bytes.concat(FrontendCodec.encode(Samples.STARTUP), gen.bytes()), chunking(gen, 64),
                FrontendCodec::decode));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void clientSideSurvivesArbitraryBytes(long seed) {
        Seeds.check(seed, gen -> feedAll(FrameDecoder.forClient(1024), gen.bytes(), chunking(gen, 64),
                BackendCodec::decode));
    }

    /** Well-framed garbage: a valid header around an arbitrary body, so decoding is what is exercised. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void framedGarbageDecodesOrFailsCleanly(long seed) {
        Seeds.check(seed, gen -> {
            byte type = type(gen);
            byte[] body = gen.bytes(200);
            List<Integer> chunking = chunking(gen, 64);
            byte[] wire = Bytes.concat(new byte[] {type}, Bytes.int32(body.length + 4), body);
            feedAll(FrameDecoder.forClient(1024), wire, chunking, BackendCodec::decode);
            feedAll(FrameDecoder.forServer(1024), Bytes.concat(FrontendCodec.encode(Samples.STARTUP), wire), chunking,
                    FrontendCodec::decode);
        });
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void arbitraryFramesDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> {
            Frame frame = new Frame(type(gen), gen.bytes(200));
            CodecProperties.decodeOrProtocolException(frame, FrontendCodec::decode);
            CodecProperties.decodeOrProtocolException(frame, BackendCodec::decode);
        });
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void arbitraryStartupPacketsDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> CodecProperties.decodeOrProtocolException(new Frame(Frame.UNTYPED, startupBody(gen)),
                FrontendCodec::decode));
    }

    /** Any sequence of messages, cut anywhere, comes back whole and in order. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void backendStreamsRoundTripUnderAnyChunking(long seed) {
        Seeds.check(seed, gen -> {
            List<BackendMessage> messages = gen.list(0, 12, () -> backendMessage(gen));
            byte[] wire = Bytes.concat(messages.stream().map(BackendCodec::encode).toArray(byte[][]::new));
            List<Object> decoded = feedAll(FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), wire,
                    chunking(gen, 300), BackendCodec::decode);
            assertEquals(messages, decoded);
        });
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void frontendStreamsRoundTripUnderAnyChunking(long seed) {
        Seeds.check(seed, gen -> {
            List<FrontendMessage> session = new ArrayList<>();
            session.add(Samples.STARTUP);
            session.addAll(gen.list(0, 12, () -> frontendMessage(gen)));
            byte[] wire = Bytes.concat(session.stream().map(FrontendCodec::encode).toArray(byte[][]::new));
            List<Object> decoded = feedAll(FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), wire,
                    chunking(gen, 300), FrontendCodec::decode);
            assertEquals(session, decoded);
        });
    }

    /** One to eight chunk sizes of 1 to {@code max} bytes, repeated over the stream. */
    private static List<Integer> chunking(Gen gen, int max) {
        return gen.list(1, 8, () -> gen.between(1, max));
    }

    private static byte type(Gen gen) {
        return gen.bool() ? KNOWN_TYPES[gen.random().nextInt(KNOWN_TYPES.length)] : gen.anyByte();
    }

    private static byte[] startupBody(Gen gen) {
        int code = gen.of(FrontendCodec.SSL_REQUEST_CODE, FrontendCodec.GSSENC_REQUEST_CODE,
                FrontendCodec.CANCEL_REQUEST_CODE, FrontendMessage.PROTOCOL_3_0, 3 << 16 | 2, 2 << 16);
        return Bytes.concat(Bytes.int32(code), gen.bytes(64));
    }

    private static BackendMessage backendMessage(Gen gen) {
        List<BackendMessage> samples = Samples.allBackend();
        Supplier<byte[]> data = () -> gen.bytes(600);
        return gen.<BackendMessage>oneOf(
                () -> samples.get(gen.random().nextInt(samples.size())),
                () -> new CopyData(data.get()),
                () -> new BackendMessage.CommandComplete(gen.text(40)),
                () -> new BackendMessage.ParameterStatus(gen.text(40), gen.text(40)),
                () -> new BackendMessage.AuthenticationSaslContinue(data.get()),
                () -> BackendMessage.ErrorResponse.of("ERROR", gen.of(SqlState.values()), gen.text(40),
                        gen.bool() ? null : gen.text(40)),
                () -> new BackendMessage.DataRow(gen.list(0, 5, () -> gen.oneIn(5) ? null : data.get())));
    }

    private static FrontendMessage frontendMessage(Gen gen) {
        List<FrontendMessage> samples = Samples.typedFrontend();
        return gen.<FrontendMessage>oneOf(
                () -> samples.get(gen.random().nextInt(samples.size())),
                () -> new CopyData(gen.bytes(600)),
                () -> new FrontendMessage.PasswordMessage(gen.bytes(600)),
                () -> new FrontendMessage.Query(gen.text(40)),
                () -> new FrontendMessage.CopyFail(gen.text(40)));
    }

    /**
     * Feeds {@code wire} cut into the given chunk sizes (repeated) and decodes every frame; stops at
     * the first {@link ProtocolException}. Anything else thrown fails the property.
     */
    private static List<Object> feedAll(FrameDecoder decoder, byte[] wire, List<Integer> chunking,
                                        Function<Frame, Object> decode) {
        List<Object> decoded = new ArrayList<>();
        int offset = 0;
        for (int i = 0; offset < wire.length; i++) {
            int end = Math.min(wire.length, offset + chunking.get(i % chunking.size()));
            decoder.feed(Arrays.copyOfRange(wire, offset, end));
            offset = end;
            try {
                for (Frame f = decoder.next(); f != null; f = decoder.next()) {
                    decoded.add(decode.apply(f));
                }
            } catch (ProtocolException e) {
                return decoded;
            }
        }
        return decoded;
    }
}
