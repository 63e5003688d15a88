package dev.walkeeper.protocol.pg;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Objects;

/**
 * Cuts a byte stream into {@link Frame}s without blocking: {@link #feed} whatever arrived,
 * then call {@link #next} until it returns {@code null} ("need more bytes"). It only frames;
 * turning a frame into a message is {@link FrontendCodec}'s or {@link BackendCodec}'s job, so
 * each can be tested without the other and without a socket.
 *
 * <p>Each frame's body is cut into an array of its own while it is fed, so a frame is handed out
 * without a copy and the body's bytes (a WAL payload) can travel on as a view of it: received
 * bytes are copied once, from the chunk into their body. Bodies up to {@link #PREALLOCATED_BODY_SIZE}
 * get their exact array when the header has arrived; larger ones grow as their bytes arrive, so a
 * length word that lies costs memory only for the bytes really sent.
 *
 * <p>Length words are checked as soon as the header is in, before any room for the body is made:
 * a peer announcing a 2 GiB message gets an error, not an allocation. An error is reported by
 * {@link #next} once the frames complete before it have been handed out. Failures:
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
 * offending header stays counted in {@link #buffered}, later input is dropped, and {@code next()}
 * keeps failing).
 *
 * <p>Not thread-safe: one decoder belongs to one connection's reader.
 */
public final class FrameDecoder {
    /** Room for a 16 MiB CopyData payload plus the headers around it. */
    public static final int DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024 + 1024;
    /** Largest startup packet body, as PostgreSQL's {@code MAX_STARTUP_PACKET_LENGTH}. */
    public static final int MAX_STARTUP_PACKET_SIZE = 10_000;
    /**
     * Largest body whose array is allocated in full when its header arrives: twice an
     * AppendRequest or XLogData of {@code MAX_SEND_SIZE} (128 KiB of WAL), so WAL frames are
     * received into their final array at once.
     */
    public static final int PREALLOCATED_BODY_SIZE = 256 * 1024;

    private static final int TYPED_HEADER_SIZE = 5;
    private static final int UNTYPED_HEADER_SIZE = 4;
    private static final byte[] NO_BYTES = new byte[0];

    private final int maxMessageSize;
    private boolean startupPhase;
    private final byte[] header = new byte[TYPED_HEADER_SIZE];
    private int headerFilled;
    /** The frame being received once its header is in; {@code body == null} while reading a header. */
    private byte type;
    private byte[] body;
    private int bodyLength;
    private int bodyFilled;
    private final ArrayDeque<Frame> complete = new ArrayDeque<>();
    private ProtocolException failure;
    private long buffered;

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

    /** Takes received bytes; they are copied into the frames' bodies, so the caller may reuse the chunk. */
    public void feed(byte[] chunk) {
        feed(chunk, 0, chunk.length);
    }

    /** As {@link #feed(byte[])}, for {@code length} bytes of {@code chunk} from {@code offset}. */
    public void feed(byte[] chunk, int offset, int length) {
        Objects.checkFromIndexSize(offset, length, chunk.length);
        feed(ByteBuffer.wrap(chunk, offset, length));
    }

    /**
     * As {@link #feed(byte[])}, for the bytes of {@code chunk} from its position to its limit; the
     * position ends at the limit. A direct buffer (as the socket read into) is copied straight into
     * the bodies, with no array in between.
     */
    public void feed(ByteBuffer chunk) {
        buffered += chunk.remaining();
        while (chunk.hasRemaining() && failure == null) {
            if (body == null) {
                int headerSize = startupPhase ? UNTYPED_HEADER_SIZE : TYPED_HEADER_SIZE;
                int n = Math.min(chunk.remaining(), headerSize - headerFilled);
                chunk.get(header, headerFilled, n);
                headerFilled += n;
                if (headerFilled < headerSize) {
                    break;
                }
                try {
                    startBody();
                } catch (ProtocolException e) {
                    failure = e;
                    break;
                }
            } else {
                int n = Math.min(chunk.remaining(), bodyLength - bodyFilled);
                if (body.length - bodyFilled < n) {
                    grow(bodyFilled + n);
                }
                chunk.get(body, bodyFilled, n);
                bodyFilled += n;
            }
            if (bodyFilled == bodyLength && body != null) {
                completeFrame();
            }
        }
        // After a failure the rest is dropped (but counted): the stream has lost sync.
        chunk.position(chunk.limit());
    }

    /** Bytes received but not yet returned as frames. */
    public long buffered() {
        return buffered;
    }

    /**
     * The next complete frame, or {@code null} when more bytes are needed. The frame's body is
     * its own array, handed over: the decoder keeps no reference to it.
     *
     * @throws ProtocolException on an invalid or oversized length word, or type byte 0, once the
     *     frames before it have been returned
     */
    public Frame next() {
        Frame frame = complete.poll();
        if (frame != null) {
            buffered -= (frame.untyped() ? UNTYPED_HEADER_SIZE : TYPED_HEADER_SIZE) + frame.body().length;
            return frame;
        }
        if (failure != null) {
            throw failure;
        }
        return null;
    }

    /** Checks the header just read and makes room for the body it announces. */
    private void startBody() {
        if (startupPhase) {
            int length = int32(header, 0);
            if (length < 8 || length - 4 > MAX_STARTUP_PACKET_SIZE) {
                throw new ProtocolException("invalid length of startup packet: " + length);
            }
            type = Frame.UNTYPED;
            bodyLength = length - 4;
        } else {
            type = header[0];
            if (type == 0) {
                throw new ProtocolException("invalid message type 0x00");
            }
            int length = int32(header, 1);
            if (length < 4) {
                throw new ProtocolException("invalid message length " + length + " for message type "
                        + Frame.describeType(type));
            }
            if (length > maxMessageSize) {
                throw new ProtocolException(SqlState.PROGRAM_LIMIT_EXCEEDED, "message type "
                        + Frame.describeType(type) + " of " + length + " bytes exceeds the limit of "
                        + maxMessageSize + " bytes");
            }
            bodyLength = length - 4;
        }
        body = bodyLength == 0 ? NO_BYTES : new byte[Math.min(bodyLength, PREALLOCATED_BODY_SIZE)];
        bodyFilled = 0;
    }

    /** Doubles a large body's array (at least to {@code needed}), never past the announced length. */
    private void grow(int needed) {
        body = Arrays.copyOf(body, (int) Math.min(bodyLength, Math.max(needed, 2L * body.length)));
    }

    private void completeFrame() {
        if (type == Frame.UNTYPED) {
            int code = int32(body, 0);
            if (code != FrontendCodec.SSL_REQUEST_CODE && code != FrontendCodec.GSSENC_REQUEST_CODE
                    && code != FrontendCodec.CANCEL_REQUEST_CODE) {
                startupPhase = false;
            }
        }
        complete.add(new Frame(type, body));
        body = null;
        headerFilled = 0;
    }

    private static int int32(byte[] bytes, int i) {
        return ((bytes[i] & 0xFF) << 24) | ((bytes[i + 1] & 0xFF) << 16)
                | ((bytes[i + 2] & 0xFF) << 8) | (bytes[i + 3] & 0xFF);
    }
}
