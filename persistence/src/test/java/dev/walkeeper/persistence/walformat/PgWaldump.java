package dev.walkeeper.persistence.walformat;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.wal.WalFormat;
import dev.walkeeper.protocol.wal.WalPageHeaders;
import dev.walkeeper.testkit.Command;
import dev.walkeeper.testkit.PgBinaries;
import dev.walkeeper.testkit.ProcessResult;
import dev.walkeeper.testkit.Processes;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * pg_waldump, PostgreSQL's own WAL reader, as the independent judge of WAL we read or write: runs
 * it on segment files and reads back its listing.
 */
final class PgWaldump {
    private static final Pattern RECORD = Pattern.compile(
            "^rmgr: (\\S+)\\s+len \\(rec/tot\\):\\s*\\d+/\\s*(\\d+), tx:\\s*\\d+, lsn: ([0-9A-F]+/[0-9A-F]+),"
                    + " prev [0-9A-F]+/[0-9A-F]+, desc: (\\S+)");

    /** One record as listed: where it starts, its {@code xl_tot_len}, whether it is XLOG_SWITCH. */
    record Record(Lsn start, int totalLength, boolean isSwitch) {
        /**
         * Where the next record may begin, as PostgreSQL's reader computes it: past the record's bytes
         * and the page headers among them, MAXALIGNed; the next segment after XLOG_SWITCH.
         */
        Lsn end(WalFormat format) {
            long position = start.value();
            long remaining = totalLength;
            while (remaining > 0) {
                if (position % WalFormat.XLOG_BLCKSZ == 0) {
                    position += WalPageHeaders.size(format, position);
                }
                long n = Math.min(remaining, WalFormat.XLOG_BLCKSZ - position % WalFormat.XLOG_BLCKSZ);
                position += n;
                remaining -= n;
            }
            if (isSwitch) {
                long segment = format.walSegSize();
                return new Lsn((position + segment - 1) / segment * segment);
            }
            return new Lsn(WalFormat.maxAlign(position));
        }
    }

    /** Everything pg_waldump listed, and how it ended. */
    record Listing(List<Record> records, int exitCode, String stderr) {
    }

    private PgWaldump() {
    }

    /** Lists the WAL of segment files {@code first} to {@code last} in {@code dir}. */
    static Listing run(Path dir, String first, String last) {
        ProcessResult result = Processes.run(Command.of(PgBinaries.require().bin("pg_waldump").toString(),
                "-p", dir.toString(), first, last).timeout(Duration.ofSeconds(60)));
        List<Record> records = new ArrayList<>();
        for (String line : result.stdout().split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            Matcher m = RECORD.matcher(line);
            if (!m.find()) {
                throw new AssertionError("unexpected pg_waldump line: " + line);
            }
            boolean isSwitch = m.group(1).equals("XLOG") && m.group(4).equals("SWITCH");
            records.add(new Record(Lsn.parse(m.group(3)), Integer.parseInt(m.group(2)), isSwitch));
        }
        return new Listing(records, result.exitCode(), result.stderr());
    }
}
