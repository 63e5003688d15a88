package dev.walkeeper.protocol.safekeeper;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.Bytes;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import java.nio.charset.StandardCharsets;
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
 * Whatever a peer sends, both decoders answer with a message or a {@link ProtocolException} —
 * never another exception — and every message survives encode → decode unchanged.
 */
class SafekeeperCodecPropertiesTest {

    @Property
    void arbitraryBytesDecodeOrFailWithProtocolException(@ForAll byte[] payload) {
        decodeOrProtocolException(payload, ProposerCodec::decode);
        decodeOrProtocolException(payload, AcceptorCodec::decode);
    }

    /** A known tag in front, so the arbitrary bytes reach the message decoders. */
    @Property
    void arbitraryBodiesDecodeOrFailWithProtocolException(@ForAll("tags") byte tag, @ForAll @Size(max = 300) byte[] body) {
        byte[] payload = Bytes.concat(new byte[] {tag}, body);
        decodeOrProtocolException(payload, ProposerCodec::decode);
        decodeOrProtocolException(payload, AcceptorCodec::decode);
    }

    /**
     * Payloads assembled from plausible fields — small counts and generations, valid and invalid
     * ids, short strings — so that garbage gets past the first fields and reaches the deep checks
     * (member sets, histories, feedback keys) that uniformly random bytes almost never reach.
     */
    @Property
    void plausibleFieldSequencesDecodeOrFailWithProtocolException(@ForAll("tags") byte tag,
            @ForAll("plausibleFields") List<byte[]> fields) {
        byte[] payload = Bytes.concat(new byte[] {tag}, Bytes.concat(fields.toArray(byte[][]::new)));
        decodeOrProtocolException(payload, ProposerCodec::decode);
        decodeOrProtocolException(payload, AcceptorCodec::decode);
    }

    /** Valid messages with one byte changed and possibly cut: the cases closest to valid. */
    @Property
    void corruptedMessagesDecodeOrFailWithProtocolException(@ForAll("proposerMessages") ProposerMessage proposer,
            @ForAll("acceptorMessages") AcceptorMessage acceptor, @ForAll @IntRange(max = 10_000) int position,
            @ForAll byte value, @ForAll @IntRange(max = 10_000) int cut) {
        for (byte[] wire : List.of(ProposerCodec.encode(proposer), AcceptorCodec.encode(acceptor))) {
            wire[position % wire.length] = value;
            byte[] corrupted = Arrays.copyOf(wire, wire.length - cut % wire.length);
            decodeOrProtocolException(corrupted, ProposerCodec::decode);
            decodeOrProtocolException(corrupted, AcceptorCodec::decode);
        }
    }

    @Property
    void proposerMessagesRoundTrip(@ForAll("proposerMessages") ProposerMessage message) {
        assertEquals(message, ProposerCodec.decode(ProposerCodec.encode(message)));
    }

    @Property
    void acceptorMessagesRoundTrip(@ForAll("acceptorMessages") AcceptorMessage message) {
        assertEquals(message, AcceptorCodec.decode(AcceptorCodec.encode(message)));
    }

    @Provide
    Arbitrary<Byte> tags() {
        return Arbitraries.oneOf(Arbitraries.of((byte) 'g', (byte) 'v', (byte) 'e', (byte) 'a'), Arbitraries.bytes());
    }

    @Provide
    Arbitrary<List<byte[]>> plausibleFields() {
        Arbitrary<byte[]> field = Arbitraries.oneOf(
                Arbitraries.integers().between(0, 3).map(Bytes::int32),
                Arbitraries.longs().between(0, 3).map(Bytes::int64),
                Arbitraries.of("ps_writelsn", "shard_number", "corruption_detected", "x", "",
                        SkSamples.ID.tenantId(), "9EF87A5BF0D92544F6FAFEEB3239695C").map(Bytes::cstring),
                Arbitraries.of(Bytes.int32(1), Bytes.int32(4), Bytes.int32(8), Bytes.int32(-1), new byte[] {0},
                        new byte[] {1}, new byte[] {2}, Bytes.int16(5454)),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(4));
        return field.list().ofMaxSize(16);
    }

    @Provide
    Arbitrary<ProposerMessage> proposerMessages() {
        Arbitrary<ProposerMessage> greeting = Combinators.combine(ids(), mconfs(), Arbitraries.integers(),
                Arbitraries.longs(), Arbitraries.integers()).as(ProposerGreeting::new);
        Arbitrary<ProposerMessage> vote = Combinators.combine(Arbitraries.integers(), Arbitraries.longs())
                .as(VoteRequest::new);
        Arbitrary<ProposerMessage> elected = Combinators.combine(Arbitraries.integers(), Arbitraries.longs(), lsns(),
                histories()).as(ProposerElected::new);
        Arbitrary<ProposerMessage> append = Combinators.combine(Arbitraries.integers(), Arbitraries.longs(),
                Arbitraries.longs().between(0, Long.MAX_VALUE), lsns(), lsns(),
                Arbitraries.bytes().array(byte[].class).ofMaxSize(2000))
                .as((generation, term, begin, commit, truncate, wal) -> new AppendRequest(generation, term,
                        new Lsn(begin), new Lsn(begin + wal.length), commit, truncate, wal));
        return Arbitraries.oneOf(greeting, vote, elected, append);
    }

    @Provide
    Arbitrary<AcceptorMessage> acceptorMessages() {
        Arbitrary<AcceptorMessage> greeting = Combinators.combine(Arbitraries.longs(), mconfs(), Arbitraries.longs())
                .as(AcceptorGreeting::new);
        Arbitrary<AcceptorMessage> vote = Combinators.combine(Arbitraries.integers(), Arbitraries.longs(),
                Arbitraries.of(true, false), lsns(), lsns(), histories()).as(VoteResponse::new);
        Arbitrary<HotStandbyFeedback> hs = Combinators.combine(Arbitraries.longs(), Arbitraries.longs(),
                Arbitraries.longs()).as(HotStandbyFeedback::new);
        Arbitrary<PageserverFeedback> ps = Combinators.combine(Arbitraries.longs(), lsns(), lsns(), lsns(),
                Arbitraries.longs(), Arbitraries.integers(), Arbitraries.of(true, false)).as(PageserverFeedback::new);
        Arbitrary<AcceptorMessage> append = Combinators.combine(Arbitraries.integers(), Arbitraries.longs(), lsns(),
                lsns(), hs, ps.injectNull(0.3)).as(AppendResponse::new);
        return Arbitraries.oneOf(greeting, vote, append);
    }

    private static Arbitrary<Lsn> lsns() {
        return Arbitraries.longs().map(Lsn::new);
    }

    private static Arbitrary<TenantTimelineId> ids() {
        Arbitrary<String> hex = Arbitraries.strings().withChars("0123456789abcdefABCDEF").ofLength(32);
        return Combinators.combine(hex, hex).as(TenantTimelineId::new);
    }

    private static Arbitrary<TermHistory> histories() {
        return Combinators.combine(Arbitraries.longs(), lsns()).as(TermSwitch::new).list().ofMaxSize(6)
                .map(TermHistory::new);
    }

    private static Arbitrary<MembershipConfiguration> mconfs() {
        Arbitrary<List<Member>> set = Combinators.combine(Arbitraries.longs().between(0, 20), hosts(),
                Arbitraries.integers().between(0, 65535)).as(Member::new)
                .list().ofMaxSize(5).uniqueElements(Member::nodeId);
        return Combinators.combine(Arbitraries.integers(), set, set)
                .filter((generation, members, newMembers) -> generation == 0 || !members.isEmpty())
                .as(MembershipConfiguration::new);
    }

    /** Any host the wire can carry in a cstr: everything but NUL that survives UTF-8. */
    private static Arbitrary<String> hosts() {
        return Arbitraries.strings().all().excludeChars('\0').ofMaxLength(20)
                .filter(s -> s.equals(new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8)));
    }

    private static void decodeOrProtocolException(byte[] payload, Function<byte[], Object> decode) {
        try {
            decode.apply(payload);
        } catch (ProtocolException expected) {
            // The one allowed failure.
        }
    }
}
