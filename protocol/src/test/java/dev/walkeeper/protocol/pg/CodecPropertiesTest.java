package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * Whatever a peer sends, the framers and decoders answer with a message or a
 * {@link ProtocolException} — never another exception, never an allocation sized by the peer.
 */
class CodecPropertiesTest {

    /** Type bytes both codecs know, so that arbitrary bodies reach the message decoders. */
    private static final byte[] KNOWN_TYPES = "pQXfdcRSKZTDCIEWHN".getBytes(StandardCharsets.US_ASCII);

    @Property
    void serverSideSurvivesArbitraryBytes(@ForAll byte[] bytes, @ForAll @Size(min = 1, max = 8) List<@IntRange(min = 1, max = 64) Integer> chunking) {
        feedAll(FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), bytes, chunking, FrontendCodec::decode);
    }

    /** Past the startup packet, so the typed framer and decoder see the arbitrary bytes. */
    @Property
    void serverSideSurvivesArbitraryBytesAfterAValidStartup(@ForAll byte[] bytes,
            @ForAll @Size(min = 1, max = 8) List<@IntRange(min = 1, max = 64) Integer> chunking) {
        feedAll(FrameDecoder.forServer(1024), Bytes.concat(FrontendCodec.encode(Samples.STARTUP), bytes), chunking,
                FrontendCodec::decode);
    }

    @Property
    void clientSideSurvivesArbitraryBytes(@ForAll byte[] bytes, @ForAll @Size(min = 1, max = 8) List<@IntRange(min = 1, max = 64) Integer> chunking) {
        feedAll(FrameDecoder.forClient(1024), bytes, chunking, BackendCodec::decode);
    }

    /** Well-framed garbage: a valid header around an arbitrary body, so decoding is what is exercised. */
    @Property
    void framedGarbageDecodesOrFailsCleanly(@ForAll("types") byte type, @ForAll @Size(max = 200) byte[] body,
            @ForAll @Size(min = 1, max = 8) List<@IntRange(min = 1, max = 64) Integer> chunking) {
        byte[] wire = Bytes.concat(new byte[] {type}, Bytes.int32(body.length + 4), body);
        feedAll(FrameDecoder.forClient(1024), wire, chunking, BackendCodec::decode);
        feedAll(FrameDecoder.forServer(1024), Bytes.concat(FrontendCodec.encode(Samples.STARTUP), wire), chunking,
                FrontendCodec::decode);
    }

    @Property
    void arbitraryFramesDecodeOrFailWithProtocolException(@ForAll("types") byte type, @ForAll @Size(max = 200) byte[] body) {
        Frame frame = new Frame(type, body);
        decodeOrProtocolException(frame, FrontendCodec::decode);
        decodeOrProtocolException(frame, BackendCodec::decode);
    }

    @Property
    void arbitraryStartupPacketsDecodeOrFailWithProtocolException(@ForAll("startupBodies") byte[] body) {
        decodeOrProtocolException(new Frame(Frame.UNTYPED, body), FrontendCodec::decode);
    }

    /** Any sequence of messages, cut anywhere, comes back whole and in order. */
    @Property
    void backendStreamsRoundTripUnderAnyChunking(@ForAll("backendMessages") List<BackendMessage> messages,
            @ForAll @Size(min = 1, max = 8) List<@IntRange(min = 1, max = 300) Integer> chunking) {
        byte[] wire = Bytes.concat(messages.stream().map(BackendCodec::encode).toArray(byte[][]::new));
        List<Object> decoded = feedAll(FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), wire, chunking,
                BackendCodec::decode);
        assertEquals(messages, decoded);
    }

    @Property
    void frontendStreamsRoundTripUnderAnyChunking(@ForAll("frontendMessages") List<FrontendMessage> messages,
            @ForAll @Size(min = 1, max = 8) List<@IntRange(min = 1, max = 300) Integer> chunking) {
        List<FrontendMessage> session = new ArrayList<>();
        session.add(Samples.STARTUP);
        session.addAll(messages);
        byte[] wire = Bytes.concat(session.stream().map(FrontendCodec::encode).toArray(byte[][]::new));
        List<Object> decoded = feedAll(FrameDecoder.forServer(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE), wire, chunking,
                FrontendCodec::decode);
        assertEquals(session, decoded);
    }

    @Provide
    Arbitrary<Byte> types() {
        return Arbitraries.oneOf(Arbitraries.of(toList(KNOWN_TYPES)), Arbitraries.bytes());
    }

    @Provide
    Arbitrary<byte[]> startupBodies() {
        Arbitrary<byte[]> code = Arbitraries.of(FrontendCodec.SSL_REQUEST_CODE, FrontendCodec.GSSENC_REQUEST_CODE,
                FrontendCodec.CANCEL_REQUEST_CODE, FrontendMessage.PROTOCOL_3_0, 3 << 16 | 2, 2 << 16)
                .map(Bytes::int32);
        return Combinators.combine(code, Arbitraries.bytes().array(byte[].class).ofMaxSize(64)).as(Bytes::concat);
    }

    @Provide
    Arbitrary<List<BackendMessage>> backendMessages() {
        Arbitrary<String> text = text();
        Arbitrary<byte[]> data = Arbitraries.bytes().array(byte[].class).ofMaxSize(600);
        Arbitrary<BackendMessage> message = Arbitraries.oneOf(
                Arbitraries.of(Samples.allBackend()),
                data.map(CopyData::new),
                text.map(BackendMessage.CommandComplete::new),
                Combinators.combine(text, text).as(BackendMessage.ParameterStatus::new),
                data.map(BackendMessage.AuthenticationSaslContinue::new),
                Combinators.combine(Arbitraries.of(SqlState.values()), text, text.injectNull(0.5))
                        .as((state, text1, detail) -> BackendMessage.ErrorResponse.of("ERROR", state, text1, detail)),
                data.injectNull(0.2).list().ofMaxSize(5).map(BackendMessage.DataRow::new));
        return message.list().ofMaxSize(12);
    }

    @Provide
    Arbitrary<List<FrontendMessage>> frontendMessages() {
        Arbitrary<byte[]> data = Arbitraries.bytes().array(byte[].class).ofMaxSize(600);
        Arbitrary<FrontendMessage> message = Arbitraries.oneOf(
                Arbitraries.of(Samples.typedFrontend()),
                data.map(CopyData::new),
                data.map(FrontendMessage.PasswordMessage::new),
                text().map(FrontendMessage.Query::new),
                text().map(FrontendMessage.CopyFail::new));
        return message.list().ofMaxSize(12);
    }

    /** Any text the wire can carry in a cstring: everything but NUL, including non-ASCII. */
    private static Arbitrary<String> text() {
        return Arbitraries.strings().all().excludeChars('\0').ofMaxLength(40)
                .filter(s -> s.equals(new String(s.getBytes(StandardCharsets.UTF_8),
                        StandardCharsets.UTF_8)));
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

    private static void decodeOrProtocolException(Frame frame, Function<Frame, Object> decode) {
        try {
            decode.apply(frame);
        } catch (ProtocolException expected) {
            // The one allowed failure.
        }
    }

    private static List<Byte> toList(byte[] bytes) {
        List<Byte> list = new ArrayList<>();
        for (byte b : bytes) {
            list.add(b);
        }
        return list;
    }
}
