package dev.walkeeper.actors.consensus;

/** What a timeline's WAL is: fixed at creation from the first proposer greeting. */
public record ServerInfo(int pgVersion, long systemId, int walSegSize) {

    public int pgMajor() {
        return pgVersion / 10000;
    }

    public ServerInfo withSystemId(long newSystemId) {
        return new ServerInfo(pgVersion, newSystemId, walSegSize);
    }
}
