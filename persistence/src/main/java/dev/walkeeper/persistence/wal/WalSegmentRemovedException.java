package dev.walkeeper.persistence.wal;

import java.io.IOException;

/**
 * The segment file holding requested WAL is not there (any more). Its own type so that the
 * connection serving WAL can answer as PostgreSQL's walsender does — with this message and
 * SQLSTATE 58P01 ({@code UNDEFINED_FILE}) — rather than as an internal error.
 */
public final class WalSegmentRemovedException extends IOException {
    public WalSegmentRemovedException(String segmentFileName) {
        super("requested WAL segment " + segmentFileName + " has already been removed");
    }
}
