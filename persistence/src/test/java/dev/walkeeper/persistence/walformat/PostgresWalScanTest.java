package dev.walkeeper.persistence.walformat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalRecordScanner;
import dev.walkeeper.protocol.wal.XLogFileName;
import dev.walkeeper.testkit.PostgresServer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scanner finds exactly the records PostgreSQL wrote, as pg_waldump lists them: WAL of a real
 * server with small records, multi-page TOAST and full-page-image records, a message record of many
 * pages, one crossing segments, and the XLOG_SWITCH that completes the last segment.
 */
class PostgresWalScanTest {
    private static final int TIMELINE = 1;

    private record Boundary(Lsn start, Lsn end) {
    }

    @Test
    void scannerAgreesWithPgWaldumpOnRealWal(@TempDir Path copy) throws IOException {
        WalFormat format;
        long lastSegment;
        try (PostgresServer pg = PostgresServer.builder().config("wal_keep_size = '1GB'").build().start()) {
            pg.psql("create table t (id int primary key, v text)");
            // Uncompressed 20 KB values: ten TOAST chunk records each, some crossing pages.
            pg.psql("alter table t alter column v set storage external");
            pg.psql("insert into t select i, repeat(md5(i::text), 640) from generate_series(1, 300) i");
            pg.psql("insert into t select i, md5(i::text) from generate_series(301, 3000) i");
            // After a checkpoint the first change of each page logs a full-page image.
            pg.psql("checkpoint");
            pg.psql("update t set v = v || 'x' where id % 7 = 0");
            pg.psql("select pg_logical_emit_message(false, 'walkeeper', repeat('m', 3000000))");
            // Bigger than a 16 MiB segment: it must cross into the next one.
            pg.psql("select pg_logical_emit_message(true, 'walkeeper', repeat('n', 17000000))");
            Lsn switchEnd = Lsn.parse(pg.psql("select pg_switch_wal()"));
            format = new WalFormat(Integer.parseInt(pg.psql("show server_version_num")),
                    Long.parseUnsignedLong(pg.psql("select system_identifier from pg_control_system()")),
                    Integer.parseInt(pg.psql("select setting from pg_settings where name = 'wal_segment_size'")),
                    TIMELINE);
            lastSegment = switchEnd.segmentNumber(format.walSegSize());
            for (long segNo = 1; segNo <= lastSegment; segNo++) {
                String name = XLogFileName.of(TIMELINE, segNo, format.walSegSize());
                Files.copy(pg.dataDir().resolve("pg_wal").resolve(name), copy.resolve(name));
            }
        }
        assertTrue(lastSegment >= 3, "expected WAL over several segments, last is " + lastSegment);

        List<Boundary> scanned = new ArrayList<>();
        Lsn start = new Lsn((long) format.walSegSize());
        WalRecordScanner scanner = new WalRecordScanner(format, start, (s, e) -> scanned.add(new Boundary(s, e)));
        for (long segNo = 1; segNo <= lastSegment; segNo++) {
            scanner.feed(Files.readAllBytes(copy.resolve(XLogFileName.of(TIMELINE, segNo, format.walSegSize()))));
        }

        PgWaldump.Listing listing = PgWaldump.run(copy, XLogFileName.of(TIMELINE, 1, format.walSegSize()),
                XLogFileName.of(TIMELINE, lastSegment, format.walSegSize()));
        assertEquals(0, listing.exitCode(), listing.stderr());
        List<Boundary> dumped = listing.records().stream()
                .map(r -> new Boundary(r.start(), r.end(format)))
                .toList();
        assertEquals(dumped.size(), scanned.size(), "record count");
        assertEquals(dumped, scanned);
        assertTrue(listing.records().stream().anyMatch(r -> r.totalLength() > 16 << 20), "a record spanning segments");
        assertTrue(listing.records().get(listing.records().size() - 1).isSwitch());
        Lsn end = new Lsn((lastSegment + 1) * format.walSegSize());
        assertEquals(end, scanner.lastRecordEnd());
        assertEquals(end, scanner.position());
        assertFalse(scanner.atEndOfWal());
    }
}
