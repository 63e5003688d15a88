package dev.walkeeper.protocol.replication;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.Bytes;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.replication.ReceiverMessage.HotStandbyFeedback;
import dev.walkeeper.protocol.replication.ReceiverMessage.NeonStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StandbyStatusUpdate;
import dev.walkeeper.protocol.replication.ReceiverMessage.StartPosition;
import dev.walkeeper.protocol.replication.SenderMessage.PrimaryKeepalive;
import dev.walkeeper.protocol.replication.SenderMessage.XLogData;
import dev.walkeeper.protocol.safekeeper.PageserverFeedback;
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
class ReplicationCodecPropertiesTest {

    @Property
    void arbitraryBytesDecodeOrFailWithProtocolException(@ForAll byte[] payload) {
        decodeBothWays(payload);
    }

    /** A known tag in front, so the arbitrary bytes reach the message decoders. */
    @Property
    void arbitraryBodiesDecodeOrFailWithProtocolException(@ForAll("tags") byte tag, @ForAll @Size(max = 300) byte[] body) {
        decodeBothWays(Bytes.concat(new byte[] {tag}, body));
    }

    /** A {@code 'z'} whose length is right, so arbitrary blocks reach the feedback decoder. */
    @Property
    void arbitraryFeedbackBlocksDecodeOrFailWithProtocolException(@ForAll @Size(max = 300) byte[] block) {
        decodeBothWays(Bytes.concat(new byte[] {'z'}, Bytes.int64(block.length), block));
    }

    /** Valid messages with one byte changed and possibly cut: the cases closest to valid. */
    @Property
    void corruptedMessagesDecodeOrFailWithProtocolException(@ForAll("senderMessages") SenderMessage sender,
            @ForAll("receiverMessages") ReceiverMessage receiver, @ForAll @IntRange(max = 10_000) int position,
            @ForAll byte value, @ForAll @IntRange(max = 10_000) int cut) {
        for (byte[] wire : List.of(ReplicationCodec.encode(sender), ReplicationCodec.encode(receiver))) {
            wire[position % wire.length] = value;
            decodeBothWays(Arrays.copyOf(wire, wire.length - cut % wire.length));
        }
    }

    @Property
    void senderMessagesRoundTrip(@ForAll("senderMessages") SenderMessage message) {
        assertEquals(message, ReplicationCodec.decodeSenderMessage(ReplicationCodec.encode(message)));
    }

    @Property
    void receiverMessagesRoundTrip(@ForAll("receiverMessages") ReceiverMessage message) {
        assertEquals(message, ReplicationCodec.decodeReceiverMessage(ReplicationCodec.encode(message)));
    }

    private static void decodeBothWays(byte[] payload) {
        decodeOrProtocolException(payload, ReplicationCodec::decodeSenderMessage);
        decodeOrProtocolException(payload, ReplicationCodec::decodeReceiverMessage);
    }

    private static void decodeOrProtocolException(byte[] payload, Function<byte[], ?> decoder) {
        try {
            decoder.apply(payload);
        } catch (ProtocolException expected) {
            // The only acceptable failure.
        }
    }

    @Provide
    Arbitrary<Byte> tags() {
        return Arbitraries.of((byte) 'w', (byte) 'k', (byte) 'r', (byte) 'h', (byte) 'z', (byte) 'i');
    }

    @Provide
    Arbitrary<SenderMessage> senderMessages() {
        Arbitrary<SenderMessage> xlogData = Combinators.combine(lsns(), lsns(), Arbitraries.longs(),
                        Arbitraries.bytes().array(byte[].class).ofMaxSize(2000))
                .filter((start, end, time, wal) -> Long.compareUnsigned(wal.length, -1L - start.value()) <= 0)
                .as(XLogData::new);
        Arbitrary<SenderMessage> keepalive = Combinators.combine(lsns(), Arbitraries.longs(), booleans())
                .as(PrimaryKeepalive::new);
        return Arbitraries.oneOf(xlogData, keepalive);
    }

    @Provide
    Arbitrary<ReceiverMessage> receiverMessages() {
        Arbitrary<ReceiverMessage> status = Combinators.combine(lsns(), lsns(), lsns(), Arbitraries.longs(), booleans())
                .as(StandbyStatusUpdate::new);
        Arbitrary<ReceiverMessage> hotStandby = Combinators.combine(Arbitraries.longs(), Arbitraries.integers(),
                Arbitraries.integers(), Arbitraries.integers(), Arbitraries.integers()).as(HotStandbyFeedback::new);
        Arbitrary<ReceiverMessage> neon = Combinators.combine(Arbitraries.longs(), lsns(), lsns(), lsns(),
                        Arbitraries.longs(), Arbitraries.integers(), booleans())
                .as((size, write, flush, apply, time, shard, corrupt) ->
                        new NeonStatusUpdate(new PageserverFeedback(size, write, flush, apply, time, shard, corrupt)));
        Arbitrary<ReceiverMessage> start = lsns().map(StartPosition::new);
        return Arbitraries.oneOf(status, hotStandby, neon, start);
    }

    private static Arbitrary<Lsn> lsns() {
        return Arbitraries.longs().map(Lsn::new);
    }

    private static Arbitrary<Boolean> booleans() {
        return Arbitraries.of(false, true);
    }
}
