package dev.walkeeper.protocol.replication;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.Bytes;
import dev.walkeeper.protocol.replication.ReceiverMessage.HotStandbyFeedback;
import dev.walkeeper.protocol.replication.ReceiverMessage.NeonStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.PageserverFeedback;
import dev.walkeeper.protocol.CodecProperties;
import dev.walkeeper.protocol.Gen;
import dev.walkeeper.protocol.Seeds;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Whatever a peer sends, both decoders answer with a message or a
 * {@link dev.walkeeper.protocol.pg.ProtocolException} — never another exception — and every
 * message survives encode → decode unchanged.
 */
class ReplicationCodecPropertiesTest {

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void arbitraryBytesDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> decodeBothWays(gen.bytes()));
    }

    /** A known tag in front, so the arbitrary bytes reach the message decoders. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void arbitraryBodiesDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> decodeBothWays(Bytes.concat(new byte[] {
                gen.of((byte) 'w', (byte) 'k', (byte) 'r', (byte) 'h', (byte) 'z', (byte) 'i')}, gen.bytes(300))));
    }

    /** A {@code 'z'} whose length is right, so arbitrary blocks reach the feedback decoder. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void arbitraryFeedbackBlocksDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> {
            byte[] block = gen.bytes(300);
            decodeBothWays(Bytes.concat(new byte[] {'z'}, Bytes.int64(block.length), block));
        });
    }

    /** Valid messages with one byte changed and possibly cut: the cases closest to valid. */
    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void corruptedMessagesDecodeOrFailWithProtocolException(long seed) {
        Seeds.check(seed, gen -> CodecProperties.corruptEach(gen, ReplicationCodecPropertiesTest::decodeBothWays,
                ReplicationCodec.encode(senderMessage(gen)), ReplicationCodec.encode(receiverMessage(gen))));
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void senderMessagesRoundTrip(long seed) {
        CodecProperties.roundTrips(seed, ReplicationCodecPropertiesTest::senderMessage, ReplicationCodec::encode,
                ReplicationCodec::decodeSenderMessage);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("dev.walkeeper.protocol.Seeds#seeds")
    void receiverMessagesRoundTrip(long seed) {
        CodecProperties.roundTrips(seed, ReplicationCodecPropertiesTest::receiverMessage, ReplicationCodec::encode,
                ReplicationCodec::decodeReceiverMessage);
    }

    private static void decodeBothWays(byte[] payload) {
        CodecProperties.decodeOrProtocolException(payload, ReplicationCodec::decodeSenderMessage);
        CodecProperties.decodeOrProtocolException(payload, ReplicationCodec::decodeReceiverMessage);
    }

    private static SenderMessage senderMessage(Gen gen) {
        return gen.<SenderMessage>oneOf(
                () -> {
                    byte[] wal = gen.bytes(2000);
                    Lsn start = lsn(gen);
                    // The WAL may not run past the end of the LSN space.
                    if (Long.compareUnsigned(wal.length, -1L - start.value()) > 0) {
                        start = new Lsn(-1L - wal.length);
                    }
                    return new XLogData(start, lsn(gen), gen.anyLong(), ByteSlice.of(wal));
                },
                () -> new PrimaryKeepalive(lsn(gen), gen.anyLong(), gen.bool()));
    }

    private static ReceiverMessage receiverMessage(Gen gen) {
        return gen.<ReceiverMessage>oneOf(
                () -> new StandbyStatusUpdate(lsn(gen), lsn(gen), lsn(gen), gen.anyLong(), gen.bool()),
                () -> new HotStandbyFeedback(gen.anyLong(), gen.anyInt(), gen.anyInt(), gen.anyInt(), gen.anyInt()),
                () -> new NeonStatusUpdate(new PageserverFeedback(gen.anyLong(), lsn(gen), lsn(gen), lsn(gen),
                        gen.anyLong(), gen.anyInt(), gen.bool())),
                () -> new StartPosition(lsn(gen)));
    }

    private static Lsn lsn(Gen gen) {
        return new Lsn(gen.anyLong());
    }
}
