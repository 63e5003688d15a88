package dev.walkeeper.protocol.safekeeper;

import static dev.walkeeper.protocol.DecoderContract.decodesOrRefuses;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * The proposer/acceptor CopyData payloads under arbitrary input: decoded or refused with a
 * ProtocolException, nothing else (see {@link dev.walkeeper.protocol.DecoderContract}).
 */
class SafekeeperDecodersFuzzTest {

    @FuzzTest
    void proposerMessage(byte[] payload) {
        decodesOrRefuses(() -> ProposerCodec.decode(payload));
    }

    /** Covers the pageserver feedback block inside an AppendResponse too. */
    @FuzzTest
    void acceptorMessage(byte[] payload) {
        decodesOrRefuses(() -> AcceptorCodec.decode(payload));
    }
}
