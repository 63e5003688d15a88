package dev.walkeeper.actors.recovery;

import java.time.Duration;
import java.util.Objects;

/**
 * Peer recovery of a node ({@code walkeeper.recovery}): how often a timeline compares its flush
 * LSN with the commit LSN its peers published, how far behind it must be to fetch WAL from a
 * peer, and the credentials it connects to peers with (a user of the peers' {@code walkeeper.auth}).
 *
 * @param password null when the peers trust the user (no auth users: loopback only)
 */
public record RecoverySettings(boolean enabled, Duration checkInterval, long minLagBytes, String user,
                               String password, Duration handshakeTimeout) {

    public static final RecoverySettings DISABLED = new RecoverySettings(false, Duration.ofSeconds(1),
            16L * 1024 * 1024, "walkeeper", null, Duration.ofSeconds(10));

    public RecoverySettings {
        Objects.requireNonNull(checkInterval, "checkInterval");
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
        if (minLagBytes < 0) {
            throw new IllegalArgumentException("min-lag must not be negative, got " + minLagBytes);
        }
    }
}
