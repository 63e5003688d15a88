package dev.walkeeper.actors.bridge;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.safekeeper.ProposerCodec;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.ProposerMessage.AppendRequest;
import java.util.HashMap;
import java.util.Map;

/**
 * The CopyData frames of one round of proposer output ({@link ProposerCodec#encodeCopyData}), each
 * distinct message encoded once: the nodes in step get the same AppendRequest, so they get the
 * same array, and each WAL byte is copied once for all of them. A node that lags (older WAL, a
 * catch-up piece) has a request of its own and so a frame of its own. Use one per round: a
 * round's messages all belong to one term.
 */
final class SharedFrames {

    /** An AppendRequest's header fields, which within one term also fix its WAL. */
    private record AppendKey(int generation, long term, Lsn begin, Lsn end, Lsn commit, Lsn truncate) {}

    private final Map<Object, byte[]> frames = new HashMap<>();

    byte[] frameOf(ProposerMessage message) {
        return frames.computeIfAbsent(key(message), k -> ProposerCodec.encodeCopyData(message));
    }

    /**
     * An AppendRequest is known by its header: within a term the proposer's WAL at an LSN range
     * never changes, and hashing up to 128 KiB of it per message would cost about what encoding
     * once saves. The other messages are small records with value equality.
     */
    private static Object key(ProposerMessage message) {
        if (message instanceof AppendRequest a) {
            return new AppendKey(a.generation(), a.term(), a.beginLsn(), a.endLsn(), a.commitLsn(), a.truncateLsn());
        }
        return message;
    }
}
