package dev.walkeeper.protocol.pg;

import dev.walkeeper.protocol.Lsn;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * A simple-Query command a walkeeper node understands, parsed once so that the connection's
 * state machine dispatches on a type instead of on text. Records validate their own fields (an
 * {@link IllegalArgumentException} when built by hand with bad values); {@link #parse} reports
 * the same problems as a {@link ProtocolException} with {@link SqlState#SYNTAX_ERROR}.
 */
public sealed interface ReplicationCommand
        permits ReplicationCommand.Empty, ReplicationCommand.IdentifySystem, ReplicationCommand.TimelineStatus,
                ReplicationCommand.TimelineConsumers, ReplicationCommand.ClusterStatus,
                ReplicationCommand.TimelineState, ReplicationCommand.PullTimeline,
                ReplicationCommand.Show, ReplicationCommand.TimelineHistory, ReplicationCommand.StartWalPush,
                ReplicationCommand.StartReplication, ReplicationCommand.StartPushReplication,
                ReplicationCommand.AddDownstream, ReplicationCommand.RemoveDownstream,
                ReplicationCommand.ListDownstreams, ReplicationCommand.Unsupported {

    /**
     * Parses one simple Query. Keywords are case-insensitive; surrounding whitespace and one
     * trailing {@code ;} are ignored. Text whose first word is not a command listed in this
     * interface — other replication commands, plain SQL — is {@link Unsupported}, for the server
     * to refuse with {@link SqlState#FEATURE_NOT_SUPPORTED}.
     *
     * @throws ProtocolException with {@link SqlState#SYNTAX_ERROR} when a known command's
     *     arguments are malformed
     */
    static ReplicationCommand parse(String sql) {
        return ReplicationCommandParser.parse(sql);
    }

    /** A blank query: the server answers EmptyQueryResponse. */
    record Empty() implements ReplicationCommand {}

    record IdentifySystem() implements ReplicationCommand {}

    /** Neon's TIMELINE_STATUS: the flush and commit LSN of the connection's timeline. */
    record TimelineStatus() implements ReplicationCommand {}

    /**
     * walkeeper's TIMELINE_CONSUMERS: who reads the connection's timeline (pull clients and push
     * downstreams), how far each has got, and its lag behind the commit LSN.
     */
    record TimelineConsumers() implements ReplicationCommand {}

    /**
     * walkeeper's CLUSTER_STATUS: the cluster's members as this node sees them, and every
     * timeline's positions as each member last published them.
     */
    record ClusterStatus() implements ReplicationCommand {}

    /**
     * walkeeper's TIMELINE_STATE: the connection's timeline's whole acceptor state (term, term
     * history, server info, start, flush and commit LSNs), as a peer copying the timeline needs it.
     */
    record TimelineState() implements ReplicationCommand {}

    /**
     * walkeeper's {@code PULL_TIMELINE [(from 'HOST:PORT')]}: copy the connection's timeline, which
     * this node does not hold, from a peer (the given one, or the most advanced member).
     *
     * @param from the donor's wire address, or null to let the node choose
     */
    record PullTimeline(String from) implements ReplicationCommand {}

    /** {@code SHOW name}; the name lower-cased, as PostgreSQL folds unquoted identifiers. */
    record Show(String parameter) implements ReplicationCommand {
        public Show {
            Objects.requireNonNull(parameter, "parameter");
        }
    }

    /** {@code TIMELINE_HISTORY n}, {@code n > 0}. */
    record TimelineHistory(int timeline) implements ReplicationCommand {
        public TimelineHistory {
            checkTimeline(timeline);
        }
    }

    /**
     * Neon's {@code START_WAL_PUSH [(key 'value', ...)]}: the proposer's WAL push. Keys are
     * lower-cased; unknown ones are kept so a newer proposer's options survive to the log.
     * {@code proto_version} must be a non-negative integer and {@code allow_timeline_creation}
     * {@code true} or {@code false} when present.
     */
    record StartWalPush(Map<String, String> options) implements ReplicationCommand {
        /** What a proposer that names no version speaks: Neon's legacy little-endian protocol. */
        public static final int DEFAULT_PROTO_VERSION = 2;

        public StartWalPush {
            options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
            String version = options.get("proto_version");
            if (version != null && ReplicationCommandParser.unsignedDecimal(version, Integer.MAX_VALUE) < 0) {
                throw new IllegalArgumentException("invalid proto_version \"" + version + "\"");
            }
            String creation = options.get("allow_timeline_creation");
            if (creation != null && !creation.equals("true") && !creation.equals("false")) {
                throw new IllegalArgumentException("invalid allow_timeline_creation \"" + creation + "\"");
            }
        }

        public int protoVersion() {
            String version = options.get("proto_version");
            return version == null ? DEFAULT_PROTO_VERSION : Integer.parseInt(version);
        }

        /** Whether a missing timeline may be created by this push; Neon's default is yes. */
        public boolean allowTimelineCreation() {
            return !"false".equals(options.get("allow_timeline_creation"));
        }
    }

    /**
     * {@code START_REPLICATION [SLOT s] [PHYSICAL] X/Y [TIMELINE n] [(term='N')]}. {@code slot},
     * {@code timeline} and {@code term} are {@code null} when not given; {@code physical} says
     * whether the PHYSICAL keyword was written (physical is the only kind served either way).
     * With {@code term} the client is a recovering peer or proposer that wants WAL up to
     * flush_lsn, not only committed WAL.
     */
    record StartReplication(String slot, boolean physical, Lsn start, Integer timeline, Long term)
            implements ReplicationCommand {
        public StartReplication {
            Objects.requireNonNull(start, "start");
            if (timeline != null) {
                checkTimeline(timeline);
            }
            if (term != null && term < 0) {
                throw new IllegalArgumentException("invalid term " + term);
            }
        }
    }

    /**
     * walkeeper's {@code START_PUSH_REPLICATION <tenant> <timeline> <X/Y> [(key 'value', ...)]}
     * (see replication-protocol.md): a node pushing committed WAL to this one. The ids are 32 hex
     * digits, kept lower-case as Neon prints them; options parse as in {@link StartWalPush}.
     */
    record StartPushReplication(String tenantHex, String timelineHex, Lsn commitLsn, Map<String, String> options)
            implements ReplicationCommand {
        public StartPushReplication {
            tenantHex = checkId("tenant", tenantHex);
            timelineHex = checkId("timeline", timelineHex);
            Objects.requireNonNull(commitLsn, "commitLsn");
            options = Collections.unmodifiableMap(new LinkedHashMap<>(options));
        }
    }

    /**
     * walkeeper's {@code ADD_DOWNSTREAM 'name' (tenant_id '…', timeline_id '…', host 'h', port 'p'
     * [, user 'u'])}: registers, cluster-wide, a node the timeline's committed WAL is pushed to.
     * {@code name} is 1 to 63 letters, digits, {@code _ . -}; {@code user} defaults to
     * {@link #DEFAULT_USER}. There is no password option on purpose: the registration is kept in
     * the cluster's shared state, and each node takes the password from its own configuration.
     */
    record AddDownstream(String name, String tenantHex, String timelineHex, String host, int port, String user)
            implements ReplicationCommand {
        public static final String DEFAULT_USER = "walkeeper";

        public AddDownstream {
            checkName(name);
            tenantHex = checkId("tenant", tenantHex);
            timelineHex = checkId("timeline", timelineHex);
            Objects.requireNonNull(host, "host");
            if (host.isEmpty() || host.chars().anyMatch(Character::isWhitespace)) {
                throw new IllegalArgumentException("invalid host \"" + host + "\"");
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("invalid port " + port);
            }
            Objects.requireNonNull(user, "user");
            if (user.isEmpty()) {
                throw new IllegalArgumentException("user must not be empty");
            }
        }
    }

    /** walkeeper's {@code REMOVE_DOWNSTREAM 'name'}: forgets a downstream registered at runtime. */
    record RemoveDownstream(String name) implements ReplicationCommand {
        public RemoveDownstream {
            checkName(name);
        }
    }

    /** walkeeper's {@code LIST_DOWNSTREAMS}: the downstreams registered at runtime, cluster-wide. */
    record ListDownstreams() implements ReplicationCommand {}

    /** A command walkeeper does not serve, named by its first word, upper-cased. */
    record Unsupported(String keyword) implements ReplicationCommand {
        public Unsupported {
            Objects.requireNonNull(keyword, "keyword");
        }
    }

    private static void checkTimeline(int timeline) {
        if (timeline <= 0) {
            throw new IllegalArgumentException("invalid timeline " + timeline);
        }
    }

    private static void checkName(String name) {
        Objects.requireNonNull(name, "name");
        if (name.isEmpty() || name.length() > 63 || !name.chars().allMatch(c -> c == '_' || c == '.' || c == '-'
                || (c < 0x80 && Character.isLetterOrDigit(c)))) {
            throw new IllegalArgumentException("invalid downstream name \"" + name
                    + "\": 1 to 63 letters, digits, '_', '.' or '-'");
        }
    }

    private static String checkId(String what, String hex) {
        if (hex.length() != 32 || !hex.chars().allMatch(HexFormat::isHexDigit)) {
            throw new IllegalArgumentException(what + " id must be 32 hex digits, got \"" + hex + "\"");
        }
        return hex.toLowerCase(Locale.ROOT);
    }
}
