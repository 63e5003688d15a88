package dev.walkeeper.protocol.replication;

import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import java.util.Objects;

/**
 * What the side holding the WAL sends, one per CopyData: PostgreSQL's walsender answering
 * {@code START_REPLICATION}, or a walkeeper node pushing after {@code START_PUSH_REPLICATION} (where
 * it is the frontend). A type of its own, apart from {@link ReceiverMessage}, so that each side
 * decodes only what its peer may send: a tag from the wrong direction is a protocol violation, not
 * a message. Encoded and decoded by {@link ReplicationCodec}.
 */
public sealed interface SenderMessage permits SenderMessage.XLogData, SenderMessage.PrimaryKeepalive {

    /**
     * WAL bytes {@code [walStart, walStart + wal.length())} ({@code 'w'}).
     *
     * @param walEnd the end of the WAL the sender can serve now, usually beyond this chunk: tells
     *     the receiver how far behind it is
     * @param sendTime µs since 2000-01-01 ({@link PgTime})
     * @param wal when decoded, a view of the received frame; equality compares its bytes
     * @throws IllegalArgumentException when the bytes would run past the largest LSN
     */
    record XLogData(Lsn walStart, Lsn walEnd, long sendTime, ByteSlice wal) implements SenderMessage {
        public XLogData {
            Objects.requireNonNull(walStart, "walStart");
            Objects.requireNonNull(walEnd, "walEnd");
            if (Long.compareUnsigned(wal.length(), -1L - walStart.value()) > 0) {
                throw new IllegalArgumentException(wal.length() + " bytes of WAL from " + walStart
                        + " run past the largest LSN");
            }
        }

        /** Where the bytes of this message end: the next message's {@code walStart}. */
        public Lsn dataEnd() {
            return walStart.plus(wal.length());
        }

        /** The WAL by length only: it can be 128 KiB of binary. */
        @Override
        public String toString() {
            return "XLogData[walStart=" + walStart + ", walEnd=" + walEnd + ", sendTime=" + sendTime + ", wal="
                    + wal.length() + " bytes]";
        }
    }

    /**
     * "Still here, and this is how far my WAL goes" ({@code 'k'}); sent when there is no WAL to send.
     *
     * @param walEnd the end of the WAL the sender can serve now
     * @param sendTime µs since 2000-01-01 ({@link PgTime})
     * @param replyRequested the receiver should answer at once with a status update, which is how
     *     the sender notices a dead receiver
     */
    record PrimaryKeepalive(Lsn walEnd, long sendTime, boolean replyRequested) implements SenderMessage {
        public PrimaryKeepalive {
            Objects.requireNonNull(walEnd, "walEnd");
        }
    }
}
