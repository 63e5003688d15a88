package dev.walkeeper.protocol.replication;

import static dev.walkeeper.protocol.DecoderContract.decodesOrRefuses;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * The physical replication CopyData payloads under arbitrary input: decoded or refused with a
 * ProtocolException, nothing else (see {@link dev.walkeeper.protocol.DecoderContract}).
 */
class ReplicationDecodersFuzzTest {

    @FuzzTest
    void senderMessage(byte[] payload) {
        decodesOrRefuses(() -> ReplicationCodec.decodeSenderMessage(payload));
    }

    /** Covers the pageserver feedback block of a {@code 'z'} message too. */
    @FuzzTest
    void receiverMessage(byte[] payload) {
        decodesOrRefuses(() -> ReplicationCodec.decodeReceiverMessage(payload));
    }
}
