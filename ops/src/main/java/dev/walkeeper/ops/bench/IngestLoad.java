package dev.walkeeper.ops.bench;

import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.actors.trace.TraceRecorder;
import dev.walkeeper.protocol.ByteSlice;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendCodec;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrameDecoder;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.safekeeper.AcceptorCodec;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.MembershipConfiguration;
import dev.walkeeper.protocol.safekeeper.ProposerCodec;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import dev.walkeeper.protocol.safekeeper.TermHistory;
import dev.walkeeper.protocol.safekeeper.TermSwitch;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalGenerator;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The load of {@code bench ingest}: one proposer on loopback pushing valid WAL in appends of a
 * fixed size, keeping at most {@code window} bytes unacknowledged (as a walproposer streams while
 * commits wait), and timing each append from send to the AppendResponse that covers it. With a
 * trace recorder it stamps {@code LOAD_SENT} (an append's end LSN, when the socket got it) and
 * {@code LOAD_ACKED} (each AppendResponse's flush LSN).
 */
final class IngestLoad {
    record Result(double mbPerSecond, LatencyHistogram latencies) {}

    private static final Lsn START = Lsn.parse("0/1000028");

    private final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final FrameDecoder framer = FrameDecoder.forClient(FrameDecoder.DEFAULT_MAX_MESSAGE_SIZE);
    private final byte[] readBuffer = new byte[64 * 1024];
    /** Null: not traced. */
    private final TraceRecorder trace;
    /** End LSNs of the appends written since the last flush: they reach the socket with it. */
    private long[] unflushed = new long[16];
    private int unflushedCount;

    private IngestLoad(Socket socket, TraceRecorder trace) throws IOException {
        this.socket = socket;
        this.trace = trace;
        this.in = socket.getInputStream();
        this.out = new BufferedOutputStream(socket.getOutputStream(), 512 * 1024);
    }

    /** {@code trace}: where to stamp the load's stages, or null. */
    static Result run(InetSocketAddress node, TenantTimelineId id, WalFormat format, int appendSize, long window,
                      long nanos, TraceRecorder trace) throws IOException {
        try (Socket socket = new Socket()) {
            socket.setTcpNoDelay(true);
            socket.connect(node, 10_000);
            return new IngestLoad(socket, trace).push(id, format, appendSize, window, nanos);
        }
    }

    private Result push(TenantTimelineId id, WalFormat format, int appendSize, long window, long nanos)
            throws IOException {
        send(new FrontendMessage.StartupMessage(FrontendMessage.PROTOCOL_3_0, Map.of("user", "bench",
                "database", "replication", "options",
                "-c timeline_id=" + id.timelineId() + " tenant_id=" + id.tenantId())));
        while (!(receive() instanceof BackendMessage.ReadyForQuery)) {
            // authentication (trust on loopback) and parameters
        }
        send(new FrontendMessage.Query("START_WAL_PUSH (proto_version '3')"));
        expect(BackendMessage.CopyBothResponse.class, receive());
        sendProposer(new ProposerMessage.ProposerGreeting(id, MembershipConfiguration.EMPTY, format.pgVersion(),
                format.systemId(), format.walSegSize()));
        long term = acceptor(AcceptorMessage.AcceptorGreeting.class).term() + 1;
        sendProposer(new ProposerMessage.VoteRequest(0, term));
        if (!acceptor(AcceptorMessage.VoteResponse.class).voteGiven()) {
            throw new IOException("vote refused");
        }
        sendProposer(new ProposerMessage.ProposerElected(0, term, START,
                new TermHistory(List.of(new TermSwitch(term, START)))));

        int recordPayload = Math.min(4000, appendSize / 4);
        WalGenerator generator = new WalGenerator(format, START, recordPayload);
        LatencyHistogram latencies = new LatencyHistogram();
        long started = System.nanoTime();
        Lsn flushed = window <= appendSize
                ? oneInFlight(term, generator, appendSize - recordPayload - 128, latencies, started + nanos)
                : windowInFlight(term, generator, appendSize, window, latencies, started + nanos);
        double seconds = (System.nanoTime() - started) / 1e9;
        send(new FrontendMessage.Terminate());
        return new Result((flushed.value() - START.value()) / seconds / 1e6, latencies);
    }


    /**
     * The latency run: appends of whole records (only record ends are ever acknowledged, so an
     * append that cuts a record would wait for the next one), exactly one in flight, each timed
     * from its send to the AppendResponse that covers it.
     */
    private Lsn oneInFlight(long term, WalGenerator generator, int recordsPerAppend, LatencyHistogram latencies,
                            long deadline) throws IOException {
        Lsn sentTo = START;
        while (System.nanoTime() < deadline) {
            byte[] records = generator.nextRecords(recordsPerAppend);
            sendProposer(new ProposerMessage.AppendRequest(0, term, sentTo, sentTo.plus(records.length), sentTo,
                    Lsn.INVALID, ByteSlice.of(records)), false);
            sentTo = sentTo.plus(records.length);
            unflushed(sentTo);
            long sent = System.nanoTime();
            out.flush();
            stampSent();
            Lsn flushed;
            do {
                flushed = acknowledged();
            } while (flushed.compareTo(sentTo) < 0);
            latencies.record(System.nanoTime() - sent);
        }
        return sentTo;
    }

    /**
     * The throughput run: appends of {@code appendSize} (cutting records), as many as keep
     * {@code window} bytes unacknowledged; each timed from its send to the first AppendResponse
     * that covers it.
     */
    private Lsn windowInFlight(long term, WalGenerator generator, int appendSize, long window,
                               LatencyHistogram latencies, long deadline) throws IOException {
        ArrayDeque<long[]> inFlight = new ArrayDeque<>(); // {end LSN, send time}
        Lsn sentTo = START;
        Lsn flushed = START;
        byte[] pending = new byte[0];
        boolean finishing = false;
        while (System.nanoTime() < deadline || flushed.compareTo(sentTo) < 0) {
            if (!finishing && System.nanoTime() >= deadline) {
                // Send the rest of the last record: only record ends are ever acknowledged.
                finishing = true;
                for (int offset = 0; offset < pending.length; offset += appendSize) {
                    byte[] tail = Arrays.copyOfRange(pending, offset, Math.min(pending.length, offset + appendSize));
                    sendProposer(new ProposerMessage.AppendRequest(0, term, sentTo, sentTo.plus(tail.length), flushed,
                            Lsn.INVALID, ByteSlice.of(tail)), false);
                    sentTo = sentTo.plus(tail.length);
                    inFlight.add(new long[] {sentTo.value(), System.nanoTime()});
                    unflushed(sentTo);
                }
            }
            // Acks only reach record ends, so "in flight" is measured from the last one acknowledged.
            while (!finishing && sentTo.value() - flushed.value() < window) {
                while (pending.length < appendSize) {
                    byte[] more = generator.nextRecords(appendSize);
                    byte[] joined = Arrays.copyOf(pending, pending.length + more.length);
                    System.arraycopy(more, 0, joined, pending.length, more.length);
                    pending = joined;
                }
                byte[] chunk = Arrays.copyOf(pending, appendSize);
                pending = Arrays.copyOfRange(pending, appendSize, pending.length);
                sendProposer(new ProposerMessage.AppendRequest(0, term, sentTo, sentTo.plus(appendSize), flushed,
                        Lsn.INVALID, ByteSlice.of(chunk)), false);
                sentTo = sentTo.plus(appendSize);
                inFlight.add(new long[] {sentTo.value(), System.nanoTime()});
                unflushed(sentTo);
            }
            out.flush();
            stampSent();
            flushed = Lsn.max(flushed, acknowledged());
            long now = System.nanoTime();
            while (!inFlight.isEmpty() && Long.compareUnsigned(inFlight.peek()[0], flushed.value()) <= 0) {
                latencies.record(now - inFlight.poll()[1]);
            }
        }
        return flushed;
    }

    /** The next AppendResponse's flush LSN, stamped as LOAD_ACKED. */
    private Lsn acknowledged() throws IOException {
        AcceptorMessage.AppendResponse response = acceptor(AcceptorMessage.AppendResponse.class);
        if (trace != null) {
            trace.stampAt(Stage.LOAD_ACKED, response.flushLsn().value(), 0, System.nanoTime());
        }
        return response.flushLsn();
    }
    private void unflushed(Lsn end) {
        if (trace == null) {
            return;
        }
        if (unflushedCount == unflushed.length) {
            unflushed = Arrays.copyOf(unflushed, unflushedCount * 2);
        }
        unflushed[unflushedCount++] = end.value();
    }

    private void stampSent() {
        if (trace == null) {
            return;
        }
        long now = System.nanoTime();
        for (int i = 0; i < unflushedCount; i++) {
            trace.stampAt(Stage.LOAD_SENT, unflushed[i], 0, now);
        }
        unflushedCount = 0;
    }

    private void send(FrontendMessage message) throws IOException {
        out.write(FrontendCodec.encode(message));
        out.flush();
    }

    private void sendProposer(ProposerMessage message) throws IOException {
        sendProposer(message, true);
    }

    private void sendProposer(ProposerMessage message, boolean flush) throws IOException {
        out.write(FrontendCodec.encode(new CopyData(ProposerCodec.encode(message))));
        if (flush) {
            out.flush();
        }
    }

    private <M extends AcceptorMessage> M acceptor(Class<M> type) throws IOException {
        CopyData data = expect(CopyData.class, receive());
        return expect(type, AcceptorCodec.decode(data.data()));
    }

    private static <T> T expect(Class<T> type, Object message) throws IOException {
        if (!type.isInstance(message)) {
            throw new IOException("expected " + type.getSimpleName() + ", got " + message);
        }
        return type.cast(message);
    }

    private BackendMessage receive() throws IOException {
        while (true) {
            Frame frame = framer.next();
            if (frame != null) {
                BackendMessage m = BackendCodec.decode(frame);
                if (m instanceof BackendMessage.ErrorResponse e) {
                    throw new IOException("node error " + e.code() + ": " + e.message());
                }
                return m;
            }
            int n = in.read(readBuffer);
            if (n < 0) {
                throw new IOException("node closed the connection");
            }
            framer.feed(Arrays.copyOf(readBuffer, n));
        }
    }
}
