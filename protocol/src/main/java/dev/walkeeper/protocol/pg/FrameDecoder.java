package dev.walkeeper.protocol.pg;

import java.util.Arrays;

/**
 * Cuts a byte stream into {@link Frame}s without blocking: {@link #feed} whatever arrived,
 * then call {@link #next} until it returns {@code null} ("need more bytes"). It only frames;
 * turning a frame into a message is {@link FrontendCodec}'s or {@link BackendCodec}'s job, so
 * each can be tested without the other and without a socket.
 *
 * <p>Length words are checked as soon as the header is buffered, before any room for the body
 * is made: a peer announcing a 2 GiB message gets an error, not an allocation. Failures:
 * <ul>
 *   <li>startup packet whose length is below 8 (length word + protocol code) or whose body exceeds
 *       {@link #MAX_STARTUP_PACKET_SIZE}: {@link SqlState#PROTOCOL_VIOLATION}, as PostgreSQL's
 *       "invalid length of startup packet" — such a packet is garbage (a TLS ClientHello, a
 *       port scan), not a large request;
 *   <li>typed message with type byte 0 (no message has it, and it would be mistaken for an untyped
 *       startup frame) or a length word below 4: {@link SqlState#PROTOCOL_VIOLATION};
 *   <li>typed message whose length word exceeds the configured maximum:
 *       {@link SqlState#PROGRAM_LIMIT_EXCEEDED} — the protocol allows it, our configured limit does
 *       not, and the distinct code tells an operator that raising the limit is an option.
 * </ul>
 * After a {@link ProtocolException} the stream has lost sync; the connection must be closed (the
 * offending header stays buffered, so {@code next()} keeps failing).
 *
 * <p>Not thread-safe: one decoder belongs to one connection's reader.
 */
public final class FrameDecoder {
    /** Room for a 16 MiB CopyData payload plus the headers around it. */
    public static final int DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024 + 1024;
    /** Largest startup packet body, as PostgreSQL's {@code MAX_STARTUP_PACKET_LENGTH}. */
    public static final int MAX_STARTUP_PACKET_SIZE = 10_000;

    private static final int INITIAL_CAPACITY = 8 * 1024;
    /** An emptied buffer larger than this is dropped, so one big message does not pin memory. */
    private static final int RETAINED_CAPACITY = 1024 * 1024;

    private final int maxMessageSize;
    private boolean startupPhase;
    private byte[] buffer = new byte[INITIAL_CAPACITY];
    private int readIndex;
    private int writeIndex;

    private FrameDecoder(int maxMessageSize, boolean startupPhase) {
        if (maxMessageSize < 4) {
            throw new IllegalArgumentException("maxMessageSize must be at least 4, got " + maxMessageSize);
        }
        this.maxMessageSize = maxMessageSize;
        this.startupPhase = startupPhase;
    }

    /**
     * For a server reading a client: untyped startup packets first, typed messages once a real
     * StartupMessage went by. SSLRequest and GSSENCRequest keep the startup phase, because the
     * client sends a new startup packet after our refusal.
     *
     * @param maxMessageSize largest accepted length word of a typed message (it counts itself)
     */
    public static FrameDecoder forServer(int maxMessageSize) {
        return new FrameDecoder(maxMessageSize, true);
    }

    /**
     * For a client reading a server: every message is typed.
     *
     * @param maxMessageSize largest accepted length word (it counts itself)
     */
    public static FrameDecoder forClient(int maxMessageSize) {
        return new FrameDecoder(maxMessageSize, false);
    }

    /**
     * Appends received bytes; the chunk is copied, so the caller may reuse it.
     *
     * @throws ProtocolException ({@link SqlState#PROGRAM_LIMIT_EXCEEDED}) if unframed input would
     *     pass 2 GiB — only possible when the caller feeds without calling {@link #next}
     */
    public void feed(byte[] chunk) {
        ensureWritable(chunk.length);
        System.arraycopy(chunk, 0, buffer, writeIndex, chunk.length);
        writeIndex += chunk.length;
    }

    /** Bytes received but not yet returned as frames. */
    public int buffered() {
        return writeIndex - readIndex;
    }

    /**
     * The next complete frame, or {@code null} when more bytes are needed.
     *
     * @throws ProtocolException on an invalid or oversized length word, or type byte 0
     */
    public Frame next() {
        return startupPhase ? nextUntyped() : nextTyped();
    }

    private Frame nextUntyped() {
        if (buffered() < 4) {
            return null;
        }
        int length = int32At(readIndex);
        if (length < 8 || length - 4 > MAX_STARTUP_PACKET_SIZE) {
            throw new ProtocolException("invalid length of startup packet: " + length);
        }
        if (buffered() < length) {
            return null;
        }
        int code = int32At(readIndex + 4);
        Frame frame = new Frame(Frame.UNTYPED, take(4, length - 4));
        if (code != FrontendCodec.SSL_REQUEST_CODE && code != FrontendCodec.GSSENC_REQUEST_CODE
                && code != FrontendCodec.CANCEL_REQUEST_CODE) {
            startupPhase = false;
        }
        return frame;
    }

    private Frame nextTyped() {
        if (buffered() < 5) {
            return null;
        }
        byte type = buffer[readIndex];
        if (type == 0) {
            throw new ProtocolException("invalid message type 0x00");
        }
        int length = int32At(readIndex + 1);
        if (length < 4) {
            throw new ProtocolException("invalid message length " + length + " for message type "
                    + Frame.describeType(type));
        }
        if (length > maxMessageSize) {
            throw new ProtocolException(SqlState.PROGRAM_LIMIT_EXCEEDED, "message type "
                    + Frame.describeType(type) + " of " + length + " bytes exceeds the limit of "
                    + maxMessageSize + " bytes");
        }
        if (buffered() - 1 < length) {
            return null;
        }
        return new Frame(type, take(5, length - 4));
    }

    /** Consumes a header of {@code skip} bytes and returns the {@code bodyLength} bytes after it. */
    private byte[] take(int skip, int bodyLength) {
        int from = readIndex + skip;
        byte[] body = Arrays.copyOfRange(buffer, from, from + bodyLength);
        readIndex = from + bodyLength;
        if (readIndex == writeIndex) {
            readIndex = 0;
            writeIndex = 0;
            if (buffer.length > RETAINED_CAPACITY) {
                buffer = new byte[INITIAL_CAPACITY];
            }
        }
        return body;
    }

    private int int32At(int i) {
        return ((buffer[i] & 0xFF) << 24) | ((buffer[i + 1] & 0xFF) << 16)
                | ((buffer[i + 2] & 0xFF) << 8) | (buffer[i + 3] & 0xFF);
    }

    /**
     * Makes room for {@code n} more bytes. Unread bytes are moved to the front only when the
     * consumed prefix is at least as large as them, otherwise the array doubles; either way each
     * byte is moved a bounded number of times, so feeding stays amortized O(1) per byte.
     */
    private void ensureWritable(int n) {
        if (buffer.length - writeIndex >= n) {
            return;
        }
        int unread = buffered();
        long needed = (long) unread + n;
        if (needed > Integer.MAX_VALUE - 8) {
            throw new ProtocolException(SqlState.PROGRAM_LIMIT_EXCEEDED,
                    "cannot buffer " + needed + " bytes of unframed input");
        }
        if (needed <= buffer.length && readIndex >= unread) {
            System.arraycopy(buffer, readIndex, buffer, 0, unread);
        } else {
            long grown = Math.max(needed, 2L * buffer.length);
            byte[] bigger = new byte[(int) Math.min(grown, Integer.MAX_VALUE - 8)];
            System.arraycopy(buffer, readIndex, bigger, 0, unread);
            buffer = bigger;
        }
        readIndex = 0;
        writeIndex = unread;
    }
}
