package dev.walkeeper.protocol.safekeeper;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.MessageReader;
import dev.walkeeper.protocol.pg.ProtocolException;
import java.util.Objects;

/**
 * The pageserver's progress, relayed by safekeepers to the compute, which throttles on it
 * (backpressure) and stops on {@code corruptionDetected}. It travels as the optional tail of an
 * AppendResponse and as the body of the {@code 'z'} replication message.
 *
 * <p>Wire form: {@code nkeys u8, nkeys × {key cstr, len i32, value[len]}}, big-endian. It is a
 * key/value map so either side can add keys without breaking the other: unknown keys are skipped
 * by their length, and the missing ones stay zero.
 *
 * @param currentTimelineSize logical size in bytes; the compute enforces its size limit with it
 * @param lastReceivedLsn received and ingested by the pageserver ({@code ps_writelsn})
 * @param diskConsistentLsn persisted on the pageserver's disk ({@code ps_flushlsn})
 * @param remoteConsistentLsn persisted in remote storage ({@code ps_applylsn}); safekeepers may
 *     remove WAL before it
 * @param replyTime µs since 2000-01-01 ({@code ps_replytime})
 * @param shardNumber the reporting shard; 0 for an unsharded tenant
 */
public record PageserverFeedback(long currentTimelineSize, Lsn lastReceivedLsn, Lsn diskConsistentLsn,
                                 Lsn remoteConsistentLsn, long replyTime, int shardNumber,
                                 boolean corruptionDetected) {
    private static final String CURRENT_TIMELINE_SIZE = "current_timeline_size";
    private static final String WRITE_LSN = "ps_writelsn";
    private static final String FLUSH_LSN = "ps_flushlsn";
    private static final String APPLY_LSN = "ps_applylsn";
    private static final String REPLY_TIME = "ps_replytime";
    private static final String SHARD_NUMBER = "shard_number";
    private static final String CORRUPTION_DETECTED = "corruption_detected";

    public PageserverFeedback {
        Objects.requireNonNull(lastReceivedLsn, "lastReceivedLsn");
        Objects.requireNonNull(diskConsistentLsn, "diskConsistentLsn");
        Objects.requireNonNull(remoteConsistentLsn, "remoteConsistentLsn");
    }

    /**
     * The block with the keys in the order Neon's safekeeper writes them; {@code shard_number} only
     * when &gt; 0 and {@code corruption_detected} only when true, as Neon does, so an unsharded
     * healthy timeline's feedback is byte-identical to Neon's.
     */
    public byte[] encode() {
        var w = new PayloadWriter(128);
        writeTo(w);
        return w.finish();
    }

    void writeTo(PayloadWriter w) {
        boolean sharded = shardNumber != 0;
        w.int8(5 + (sharded ? 1 : 0) + (corruptionDetected ? 1 : 0));
        w.cstring(CURRENT_TIMELINE_SIZE).int32(8).int64(currentTimelineSize);
        w.cstring(WRITE_LSN).int32(8).lsn(lastReceivedLsn);
        w.cstring(FLUSH_LSN).int32(8).lsn(diskConsistentLsn);
        w.cstring(APPLY_LSN).int32(8).lsn(remoteConsistentLsn);
        w.cstring(REPLY_TIME).int32(8).int64(replyTime);
        if (sharded) {
            w.cstring(SHARD_NUMBER).int32(4).int32(shardNumber);
        }
        if (corruptionDetected) {
            w.cstring(CORRUPTION_DETECTED).int32(1).int8(1);
        }
    }

    /**
     * Decodes a block that fills {@code block} exactly.
     *
     * @throws ProtocolException when truncated, followed by other bytes, or a known key has a
     *     length other than its type's
     */
    public static PageserverFeedback decode(byte[] block) {
        var r = new MessageReader(block, "PageserverFeedback");
        PageserverFeedback feedback = read(r);
        r.expectEnd();
        return feedback;
    }

    /**
     * Reads one block at the reader's position. Besides Neon's key names this takes the older ones
     * its walproposer still accepts ({@code last_received_lsn}, {@code disk_consistent_lsn},
     * {@code remote_consistent_lsn}, {@code replytime}); a key given twice keeps its last value.
     */
    static PageserverFeedback read(MessageReader r) {
        long size = 0;
        long write = 0;
        long flush = 0;
        long apply = 0;
        long replyTime = 0;
        int shard = 0;
        boolean corruption = false;
        int nkeys = r.int8() & 0xFF;
        for (int i = 0; i < nkeys; i++) {
            String key = r.cstring();
            int length = r.int32();
            switch (key) {
                case CURRENT_TIMELINE_SIZE -> size = int64(r, key, length);
                case WRITE_LSN, "last_received_lsn" -> write = int64(r, key, length);
                case FLUSH_LSN, "disk_consistent_lsn" -> flush = int64(r, key, length);
                case APPLY_LSN, "remote_consistent_lsn" -> apply = int64(r, key, length);
                case REPLY_TIME, "replytime" -> replyTime = int64(r, key, length);
                case SHARD_NUMBER -> {
                    checkLength(key, length, 4);
                    shard = r.int32();
                }
                case CORRUPTION_DETECTED -> {
                    checkLength(key, length, 1);
                    corruption = r.int8() != 0;
                }
                default -> {
                    if (length < 0) {
                        throw new ProtocolException("PageserverFeedback: key \"" + key + "\" has negative length "
                                + length);
                    }
                    r.bytes(length);
                }
            }
        }
        return new PageserverFeedback(size, new Lsn(write), new Lsn(flush), new Lsn(apply), replyTime, shard,
                corruption);
    }

    private static long int64(MessageReader r, String key, int length) {
        checkLength(key, length, 8);
        return r.int64();
    }

    /** Neon only asserts these lengths; a wrong one would misalign every later key, so it is refused. */
    private static void checkLength(String key, int length, int expected) {
        if (length != expected) {
            throw new ProtocolException("PageserverFeedback: key \"" + key + "\" has length " + length
                    + ", expected " + expected);
        }
    }
}
