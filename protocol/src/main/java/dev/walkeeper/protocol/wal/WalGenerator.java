package dev.walkeeper.protocol.wal;

import static dev.walkeeper.protocol.wal.WalFormat.SIZE_OF_XLOG_RECORD;
import static dev.walkeeper.protocol.wal.WalFormat.XLOG_BLCKSZ;

import dev.walkeeper.protocol.Lsn;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * Produces valid WAL of {@code XLOG_NOOP} records, for tests and benchmarks that need WAL without
 * a PostgreSQL server: correct page headers (long ones at segment starts, continuation flags and
 * {@code xlp_rem_len} for records crossing pages), {@code xl_prev} links and CRCs, so that
 * pg_waldump reads it like a server's own. NOOP records are what PostgreSQL itself uses as
 * harmless filler: replay ignores them.
 *
 * <p>Each call returns the bytes from {@link #position()} up to the end of the records it adds:
 * their alignment padding included, the header of the page after them not yet (it comes with the
 * next record), so the position after a call is exactly the last record's end as PostgreSQL
 * reports it. Not thread-safe.
 */
public final class WalGenerator {
    /** {@code XLR_BLOCK_ID_DATA_SHORT}: main data of at most 255 bytes follows, its length in a byte. */
    private static final int XLR_BLOCK_ID_DATA_SHORT = 255;
    /** {@code XLR_BLOCK_ID_DATA_LONG}: main data follows, its length in 4 bytes. */
    private static final int XLR_BLOCK_ID_DATA_LONG = 254;
    private static final int MAX_PAYLOAD = WalRecordScanner.MAX_RECORD_SIZE - SIZE_OF_XLOG_RECORD - 5;
    private static final byte[] PATTERN = pattern();

    private final WalFormat format;
    private final int payloadSize;
    private final CRC32C crc = new CRC32C();
    private long position;
    /** 0 before the first record: PostgreSQL's first record has {@code xl_prev} 0 too. */
    private long prevRecordStart;
    private byte[] out = new byte[2 * XLOG_BLCKSZ];
    private int outLength;
    private byte[] record = new byte[XLOG_BLCKSZ];

    /**
     * A generator of WAL beginning at {@code start}, a record boundary (at a page start it first
     * emits the page header, long at a segment start).
     *
     * @param payloadSize main data bytes of each record {@link #nextRecords} adds
     * @throws IllegalArgumentException if {@code start} cannot be a record boundary, or the payload
     *     size is negative or too large
     */
    public WalGenerator(WalFormat format, Lsn start, int payloadSize) {
        WalPageHeaders.requireRecordBoundary(format, start.value());
        this.format = format;
        this.payloadSize = checkPayloadSize(payloadSize);
        this.position = start.value();
    }

    /** The end of the bytes generated so far: the end of the last record, or the start. */
    public Lsn position() {
        return new Lsn(position);
    }

    /** Records of the configured payload size until at least {@code approxBytes} (and one record) are produced. */
    public byte[] nextRecords(int approxBytes) {
        outLength = 0;
        do {
            appendRecord(WalFormat.XLOG_NOOP, payloadSize);
        } while (outLength < approxBytes);
        return Arrays.copyOf(out, outLength);
    }

    /**
     * One NOOP record with {@code payloadSize} bytes of main data: 24 bytes of record when 0, else
     * 2 ({@code XLogRecordDataHeaderShort}) or, above 255 bytes, 5 ({@code XLogRecordDataHeaderLong})
     * bytes more than the payload.
     */
    public byte[] nextRecord(int payloadSize) {
        outLength = 0;
        appendRecord(WalFormat.XLOG_NOOP, checkPayloadSize(payloadSize));
        return Arrays.copyOf(out, outLength);
    }

    /**
     * An {@code XLOG_SWITCH} record and the zeros filling the rest of its segment, page headers
     * included, as PostgreSQL pads it; the position then is the next segment's start.
     */
    public byte[] switchSegment() {
        outLength = 0;
        appendRecord(WalFormat.XLOG_SWITCH, 0);
        long segmentEnd = (position + format.walSegSize() - 1) & -(long) format.walSegSize();
        int padding = (int) (segmentEnd - position);
        ensureCapacity(padding);
        Arrays.fill(out, outLength, outLength + padding, (byte) 0);
        outLength += padding;
        position = segmentEnd;
        return Arrays.copyOf(out, outLength);
    }

    private void appendRecord(int info, int payload) {
        int dataHeader = payload == 0 ? 0 : payload <= 255 ? 2 : 5;
        int totalLength = SIZE_OF_XLOG_RECORD + dataHeader + payload;
        buildRecord(info, payload, dataHeader, totalLength);
        long start = position;
        int written = 0;
        // Worst case: a page header for every page touched, plus alignment padding.
        ensureCapacity(totalLength + (totalLength / (XLOG_BLCKSZ - WalFormat.SIZE_OF_XLOG_LONG_PHD) + 2)
                * WalFormat.SIZE_OF_XLOG_LONG_PHD + WalFormat.MAXIMUM_ALIGNOF);
        while (written < totalLength) {
            if ((position & (XLOG_BLCKSZ - 1)) == 0) {
                boolean continued = written > 0;
                int header = WalPageHeaders.write(format, position,
                        continued ? WalPageHeaders.XLP_FIRST_IS_CONTRECORD : 0,
                        continued ? totalLength - written : 0, out, outLength);
                if (!continued) {
                    start = position + header;
                }
                outLength += header;
                position += header;
            }
            int n = (int) Math.min(totalLength - written, XLOG_BLCKSZ - (position & (XLOG_BLCKSZ - 1)));
            System.arraycopy(record, written, out, outLength, n);
            written += n;
            outLength += n;
            position += n;
        }
        int padding = (int) (WalFormat.maxAlign(position) - position);
        Arrays.fill(out, outLength, outLength + padding, (byte) 0);
        outLength += padding;
        position += padding;
        prevRecordStart = start;
    }

    /** Lays out header, data header and payload in {@link #record}, then sets the CRC. */
    private void buildRecord(int info, int payload, int dataHeader, int totalLength) {
        if (record.length < totalLength) {
            record = new byte[Math.max(totalLength, 2 * record.length)];
        }
        LittleEndian.putInt32(record, 0, totalLength);
        LittleEndian.putInt32(record, 4, 0);
        LittleEndian.putInt64(record, 8, prevRecordStart);
        record[16] = (byte) info;
        record[17] = (byte) WalFormat.RM_XLOG_ID;
        LittleEndian.putInt16(record, 18, 0);
        int at = SIZE_OF_XLOG_RECORD;
        if (dataHeader == 2) {
            record[at] = (byte) XLR_BLOCK_ID_DATA_SHORT;
            record[at + 1] = (byte) payload;
        } else if (dataHeader == 5) {
            record[at] = (byte) XLR_BLOCK_ID_DATA_LONG;
            LittleEndian.putInt32(record, at + 1, payload);
        }
        at += dataHeader;
        for (int copied = 0; copied < payload; ) {
            int n = Math.min(payload - copied, PATTERN.length);
            System.arraycopy(PATTERN, 0, record, at + copied, n);
            copied += n;
        }
        crc.reset();
        crc.update(record, SIZE_OF_XLOG_RECORD, totalLength - SIZE_OF_XLOG_RECORD);
        crc.update(record, 0, 20);
        LittleEndian.putInt32(record, 20, (int) crc.getValue());
    }

    private void ensureCapacity(int more) {
        long needed = (long) outLength + more;
        if (needed > out.length) {
            if (needed > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("cannot generate " + needed + " bytes in one call");
            }
            out = Arrays.copyOf(out, (int) Math.min(Integer.MAX_VALUE - 8, Math.max(needed, 2L * out.length)));
        }
    }

    private static int checkPayloadSize(int payloadSize) {
        if (payloadSize < 0 || payloadSize > MAX_PAYLOAD) {
            throw new IllegalArgumentException("payload size must be from 0 to " + MAX_PAYLOAD + ", got " + payloadSize);
        }
        return payloadSize;
    }

    /** Payload bytes that vary, so a flipped byte anywhere changes the record. */
    private static byte[] pattern() {
        byte[] bytes = new byte[4096];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = (byte) (i * 31 + (i >>> 8));
        }
        return bytes;
    }
}
