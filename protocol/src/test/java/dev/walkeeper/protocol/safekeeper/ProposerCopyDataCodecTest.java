package dev.walkeeper.protocol.safekeeper;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.ProposerGreeting;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link ProposerCodec#encodeCopyData}: the frame a proposer writes once and shares across nodes. */
class ProposerCopyDataCodecTest {

    @Test
    void theFrameIsByteIdenticalToThePerMessageEncoding() {
        for (ProposerMessage m : SkSamples.allProposer()) {
            byte[] old = FrontendCodec.encode(new CopyData(ProposerCodec.encode(m)));
            assertArrayEquals(old, ProposerCodec.encodeCopyData(m), m.toString());
        }
    }

    @Test
    void aServerFramesAndDecodesItBackToTheMessage() {
        // Typed frames only, as a server reads them once the startup packet is behind it.
        FrameDecoder framer = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
        List<ProposerMessage> all = SkSamples.allProposer();
        for (ProposerMessage m : all) {
            framer.feed(ProposerCodec.encodeCopyData(m));
        }
        for (ProposerMessage m : all) {
            FrontendMessage frame = FrontendCodec.decode(framer.next());
            assertEquals(m, ProposerCodec.decode(((CopyData) frame).data()));
        }
    }

    @Test
    void aHostWithNulIsRefusedAsByTheMessageEncoder() {
        var bad = new MembershipConfiguration(1, List.of(new Member(1, "a\0b", 1)), List.of());
        assertThrows(IllegalArgumentException.class,
                () -> ProposerCodec.encodeCopyData(new ProposerGreeting(SkSamples.ID, bad, 150018, 1, 16 << 20)));
    }
}
