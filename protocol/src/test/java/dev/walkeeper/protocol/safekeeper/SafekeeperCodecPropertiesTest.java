package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.Bytes;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AcceptorGreeting;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.AppendResponse;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage.VoteResponse;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerElected;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.VoteRequest;
import dev.walkeeper.protocol.CodecProperties;
import dev.walkeeper.protocol.Gen;
import dev.walkeeper.protocol.Seeds;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Whatever a peer sends, both decoders answer with a message or a
 * {@link dev.walkeeper.protocol.pg.ProtocolException} — never another exception — and every
 * message survives encode → decode unchanged.
 */
class SafekeeperCodecPropertiesTest {
    private static final String HEX = "0123456789abcdefABCDEF";

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void arbitraryBytesDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> decodeBoth(gen.bytes()));
    }

    /** A known tag in front, so the arbitrary bytes reach the message decoders. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void arbitraryBodiesDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> decodeBoth(Bytes.concat(new byte[] {tag(gen)}, gen.bytes(300))));
    }

    /**
     * Payloads assembled from plausible fields — small counts and generations, valid and invalid
     * ids, short strings — so that garbage gets past the first fields and reaches the deep checks
     * (member sets, histories, feedback keys) that uniformly random bytes almost never reach.
     */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void plausibleFieldSequencesDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> {
            List<byte[]> fields = gen.list(0, 16, () -> plausibleField(gen));
            decodeBoth(Bytes.concat(new byte[] {tag(gen)}, Bytes.concat(fields.toArray(byte[][]::new))));
        });
    }

    /** Valid messages with one byte changed and possibly cut: the cases closest to valid. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void corruptedMessagesDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> CodecProperties.corruptEach(gen, SafekeeperCodecPropertiesTest::decodeBoth,
                ProposerCodec.encode(proposerMessage(gen)), AcceptorCodec.encode(acceptorMessage(gen))));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void proposerMessagesRoundTrip(long seed) {
        CodecProperties.roundTrips(seed, SafekeeperCodecPropertiesTest::proposerMessage, ProposerCodec::encode,
                ProposerCodec::decode);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void acceptorMessagesRoundTrip(long seed) {
        CodecProperties.roundTrips(seed, SafekeeperCodecPropertiesTest::acceptorMessage, AcceptorCodec::encode,
                AcceptorCodec::decode);
    }

    private static byte tag(Gen gen) {
        return gen.bool() ? gen.of((byte) 'g', (byte) 'v', (byte) 'e', (byte) 'a') : gen.anyByte();
    }

    private static byte[] plausibleField(Gen gen) {
        return gen.<byte[]>oneOf(
                () -> Bytes.int32(gen.between(0, 3)),
                () -> Bytes.int64(gen.between(0L, 3L)),
                () -> Bytes.cstring(gen.of("ps_writelsn", "shard_number", "corruption_detected", "x", "",
                        SkSamples.ID.tenantId(), "9EF87A5BF0D92544F6FAFEEB3239695C")),
                () -> gen.of(Bytes.int32(1), Bytes.int32(4), Bytes.int32(8), Bytes.int32(-1), new byte[] {0},
                        new byte[] {1}, new byte[] {2}, Bytes.int16(5454)),
                () -> gen.bytes(4));
    }

    private static ProposerMessage proposerMessage(Gen gen) {
        return gen.<ProposerMessage>oneOf(
                () -> new ProposerGreeting(id(gen), mconf(gen), gen.anyInt(), gen.anyLong(), gen.anyInt()),
                () -> new VoteRequest(gen.anyInt(), gen.anyLong()),
                () -> new ProposerElected(gen.anyInt(), gen.anyLong(), lsn(gen), history(gen)),
                () -> {
                    int generation = gen.anyInt();
                    long term = gen.anyLong();
                    long begin = gen.between(0, Long.MAX_VALUE);
                    Lsn commit = lsn(gen);
                    Lsn truncate = lsn(gen);
                    byte[] wal = gen.bytes(2000);
                    return new AppendRequest(generation, term, new Lsn(begin), new Lsn(begin + wal.length), commit,
                            truncate, ByteSlice.of(wal));
                });
    }

    private static AcceptorMessage acceptorMessage(Gen gen) {
        return gen.<AcceptorMessage>oneOf(
                () -> new AcceptorGreeting(gen.anyLong(), mconf(gen), gen.anyLong()),
                () -> new VoteResponse(gen.anyInt(), gen.anyLong(), gen.bool(), lsn(gen), lsn(gen), history(gen)),
                () -> new AppendResponse(gen.anyInt(), gen.anyLong(), lsn(gen), lsn(gen),
                        new HotStandbyFeedback(gen.anyLong(), gen.anyLong(), gen.anyLong()),
                        gen.oneIn(3) ? null : new PageserverFeedback(gen.anyLong(), lsn(gen), lsn(gen), lsn(gen),
                                gen.anyLong(), gen.anyInt(), gen.bool())));
    }

    private static Lsn lsn(Gen gen) {
        return new Lsn(gen.anyLong());
    }

    private static TenantTimelineId id(Gen gen) {
        return new TenantTimelineId(gen.stringOfLength(32, HEX), gen.stringOfLength(32, HEX));
    }

    private static TermHistory history(Gen gen) {
        return new TermHistory(gen.list(0, 6, () -> new TermSwitch(gen.anyLong(), lsn(gen))));
    }

    private static MembershipConfiguration mconf(Gen gen) {
        int generation = gen.anyInt();
        List<Member> members = memberSet(gen);
        if (generation != 0 && members.isEmpty()) {
            generation = 0; // Only generation 0 may come without members.
        }
        return new MembershipConfiguration(generation, members, memberSet(gen));
    }

    /** Up to five members with distinct node ids, hosts anything a cstring can carry. */
    private static List<Member> memberSet(Gen gen) {
        List<Member> set = new ArrayList<>();
        Set<Long> ids = new HashSet<>();
        for (int i = gen.size(5); i > 0; i--) {
            long nodeId = gen.between(0L, 20L);
            if (ids.add(nodeId)) {
                set.add(new Member(nodeId, gen.text(20), gen.between(0, 65535)));
            }
        }
        return set;
    }

    private static void decodeBoth(byte[] payload) {
        CodecProperties.decodeOrProtocolException(payload, ProposerCodec::decode);
        CodecProperties.decodeOrProtocolException(payload, AcceptorCodec::decode);
    }
}
