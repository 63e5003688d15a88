package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.recovery.TimelineCopy;
import dev.walkeeper.actors.replication.PushReplicator;
import dev.walkeeper.actors.timeline.ClusterTimelines;
import dev.walkeeper.actors.timeline.RuntimeDownstreams;
import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.timeline.TimelineRegistry;
import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.BackendMessage.CommandComplete;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.EmptyQueryResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ReadyForQuery;
import dev.walkeeper.protocol.pg.BackendMessage.RowDescription;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.ProtocolException;
import dev.walkeeper.protocol.pg.ReplicationCommand;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * The simple-query loop of an authenticated connection: parses each Query as a
 * {@link ReplicationCommand} and answers it as PostgreSQL's walsender would (IDENTIFY_SYSTEM,
 * SHOW, TIMELINE_STATUS, TIMELINE_CONSUMERS, TIMELINE_HISTORY, CLUSTER_STATUS, ADD_DOWNSTREAM,
 * REMOVE_DOWNSTREAM, LIST_DOWNSTREAMS, the empty query), or says which
 * streaming role the command starts. A failed command answers ERROR and ReadyForQuery; the session
 * goes on.
 *
 * <p>Commands that need the timeline ask it and hold the reader until answered, so replies keep
 * the order of the queries: at most one command is in flight.
 */
final class QueryLoop {

    /** What the connection does after a message or an answer. */
    sealed interface Outcome {}

    /** The command was answered, or its answer is awaited (the reader is held meanwhile). */
    enum Continue implements Outcome { INSTANCE }

    /** Terminate, or a FATAL error was written: the connection drains. */
    enum Close implements Outcome { INSTANCE }

    /** START_WAL_PUSH with a supported protocol version: the WAL push role takes over. */
    record StartWalPush(boolean allowTimelineCreation) implements Outcome {}

    /** START_REPLICATION was accepted (CopyBoth sent): the pull replication role takes over. */
    record StartReplication(PullReplicationRole role) implements Outcome {}

    /** START_PUSH_REPLICATION was accepted (CopyBoth sent): the push receiver role takes over. */
    record StartPushReceiving(PushReceiverRole role) implements Outcome {}

    /** A registration waits for a majority of the members (5 s at most, see the shared state). */
    private static final java.time.Duration DOWNSTREAMS_TIMEOUT = java.time.Duration.ofSeconds(8);

    private final ConnectionContext ctx;
    private final SimpleQueries queries;
    /** The rest of the command in flight, fed each answer; null when none is. */
    private Function<Connection.Async, Outcome> pending;

    QueryLoop(ConnectionContext ctx) {
        this.ctx = ctx;
        this.queries = new SimpleQueries(ctx.settings());
    }

    /** One message from the reader. */
    Outcome onMessage(Object message) {
        if (pending != null) {
            // The reader is held while a command is answered: nothing else may arrive.
            ctx.unexpected(message, "busy");
            return Close.INSTANCE;
        }
        if (message instanceof Query query) {
            return onQuery(query.sql());
        }
        if (!(message instanceof Terminate)) {
            ctx.unexpected(message, "simple-query");
        }
        return Close.INSTANCE;
    }

    /** An answer to the command in flight; answers nobody waits for are late (after a timeout). */
    Outcome onAnswer(Connection.Async answer) {
        if (pending == null) {
            ctx.actor().getLog().debug("{}: ignoring late {}", ctx.client(), answer);
            return Continue.INSTANCE;
        }
        return pending.apply(answer);
    }

    private Outcome onQuery(String sql) {
        ReplicationCommand command;
        try {
            command = ReplicationCommand.parse(sql);
        } catch (ProtocolException e) {
            return queryError(e.sqlState(), e.getMessage());
        }
        if (command instanceof ReplicationCommand.Empty) {
            ctx.write(new EmptyQueryResponse());
        } else if (command instanceof ReplicationCommand.IdentifySystem) {
            return identifySystem();
        } else if (command instanceof ReplicationCommand.StartReplication start) {
            return startReplication(start);
        } else if (command instanceof ReplicationCommand.Show show) {
            queries.show(show.parameter()).forEach(ctx::write);
        } else if (command instanceof ReplicationCommand.TimelineStatus) {
            return timelineStatus();
        } else if (command instanceof ReplicationCommand.TimelineHistory history) {
            // Every timeline here is PostgreSQL's timeline 1, which has no history file: answer as
            // PostgreSQL's walsender does when the file is missing.
            return queryError(SqlState.UNDEFINED_FILE, "could not open file \"pg_wal/"
                    + String.format("%08X", history.timeline()) + ".history\": No such file or directory");
        } else if (command instanceof ReplicationCommand.TimelineConsumers) {
            return timelineConsumers();
        } else if (command instanceof ReplicationCommand.ClusterStatus) {
            return clusterStatus();
        } else if (command instanceof ReplicationCommand.TimelineState) {
            return timelineState();
        } else if (command instanceof ReplicationCommand.PullTimeline pull) {
            return pullTimeline(pull);
        } else if (command instanceof ReplicationCommand.StartWalPush push) {
            if (push.protoVersion() != 3) {
                return queryError(SqlState.FEATURE_NOT_SUPPORTED, "START_WAL_PUSH protocol version "
                        + push.protoVersion() + " is not supported: this node speaks proto_version '3'");
            }
            return new StartWalPush(push.allowTimelineCreation());
        } else if (command instanceof ReplicationCommand.StartPushReplication push) {
            return startPushReceiving(push);
        } else if (command instanceof ReplicationCommand.AddDownstream add) {
            return downstreams(add, "ADD_DOWNSTREAM",
                    replyTo -> new RuntimeDownstreams.Add(new RuntimeDownstreams.Registered(add.name(),
                            new TenantTimelineId(add.tenantHex(), add.timelineHex()), add.host(), add.port(),
                            add.user()), replyTo));
        } else if (command instanceof ReplicationCommand.RemoveDownstream remove) {
            return downstreams(remove, "REMOVE_DOWNSTREAM", replyTo -> new RuntimeDownstreams.Remove(remove.name(),
                    replyTo));
        } else if (command instanceof ReplicationCommand.ListDownstreams list) {
            return downstreams(list, "LIST_DOWNSTREAMS", RuntimeDownstreams.GetAll::new);
        } else {
            return queryError(SqlState.FEATURE_NOT_SUPPORTED, firstWord(sql) + " is not supported by this walkeeper node");
        }
        ctx.write(ReadyForQuery.IDLE);
        return Continue.INSTANCE;
    }

    private static String firstWord(String sql) {
        String trimmed = sql.strip();
        int end = 0;
        while (end < trimmed.length() && !Character.isWhitespace(trimmed.charAt(end)) && trimmed.charAt(end) != '(') {
            end++;
        }
        return trimmed.substring(0, end).toUpperCase(Locale.ROOT);
    }

    /** An ERROR that ends the command but not the connection. */
    private Outcome queryError(SqlState state, String message) {
        ctx.write(ErrorResponse.error(state, message));
        ctx.write(ReadyForQuery.IDLE);
        return Continue.INSTANCE;
    }

    /** Ends a command answered asynchronously: ReadyForQuery, and the reader may go on. */
    private Outcome commandDone() {
        ctx.write(ReadyForQuery.IDLE);
        ctx.releaseReader();
        return Continue.INSTANCE;
    }

    /** A command whose answer did not come: ERROR XX000, and the session goes on. */
    private Outcome notAnswered(TenantTimelineId id, Connection.Async answer) {
        pending = null;
        ctx.write(ErrorResponse.error(SqlState.INTERNAL_ERROR, "timeline " + id + " did not answer: " + answer));
        return commandDone();
    }

    /** What to do with a timeline once its status is known. */
    private interface StatusHandler {
        Outcome handle(ActorRef<Timeline.Command> timeline, Timeline.Status status);
    }

    /**
     * Asks the registry for the timeline and the timeline for its status, holding the reader
     * meanwhile, then hands both to {@code then}.
     */
    private Outcome withTimelineStatus(TenantTimelineId id, StatusHandler then) {
        ctx.holdReader();
        ctx.resolveTimeline(id);
        pending = answer -> {
            if (answer instanceof Connection.TimelineResolved resolved && resolved.failure() == null) {
                ctx.actor().ask(Timeline.Status.class, resolved.timeline(), ConnectionContext.ASK_TIMEOUT,
                        Timeline.GetStatus::new,
                        (status, failure) -> new Connection.StatusReceived(resolved.timeline(), status, failure));
                return Continue.INSTANCE;
            }
            if (answer instanceof Connection.StatusReceived received && received.failure() == null) {
                pending = null;
                return then.handle(received.timeline(), received.status());
            }
            return notAnswered(id, answer);
        };
        return Continue.INSTANCE;
    }

    /**
     * IDENTIFY_SYSTEM: the served timeline's system id and the LSN it may be streamed up to —
     * commit LSN for ordinary clients, flush LSN for peers and proposer recovery (as Neon).
     * Without a timeline, the configured system id and 0/0.
     */
    private Outcome identifySystem() {
        Session session = ctx.session();
        // As PostgreSQL: a database name only on a logical (replication=database) connection.
        String dbname = session.logicalReplication() ? session.database() : null;
        long systemId = ctx.settings().systemId();
        TenantTimelineId id = ctx.servedTimeline();
        if (id == null) {
            queries.identifySystem(systemId, Lsn.INVALID, dbname).forEach(ctx::write);
            ctx.write(ReadyForQuery.IDLE);
            return Continue.INSTANCE;
        }
        return withTimelineStatus(id, (timeline, status) -> {
            if (status.exists()) {
                queries.identifySystem(status.systemId(),
                        session.recoveryClient() ? status.flushLsn() : status.commitLsn(), dbname).forEach(ctx::write);
            } else {
                queries.identifySystem(systemId, Lsn.INVALID, dbname).forEach(ctx::write);
            }
            return commandDone();
        });
    }

    /**
     * TIMELINE_STATUS: flush_lsn and commit_lsn of the options' timeline on this node (no row if it
     * does not exist here), then the other cluster members' positions of it, as they published them.
     */
    private Outcome timelineStatus() {
        TenantTimelineId id = ctx.session().optionsTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE,
                    "TIMELINE_STATUS needs tenant_id and timeline_id in the startup options");
        }
        return withTimelineStatus(id, (timeline, status) -> {
            ctx.actor().ask(ClusterTimelines.View.class, ctx.timelines(), ConnectionContext.ASK_TIMEOUT,
                    replyTo -> new TimelineRegistry.AskCluster(new ClusterTimelines.GetTimeline(id, replyTo)),
                    Connection.ClusterViewReceived::new);
            pending = answer -> {
                if (!(answer instanceof Connection.ClusterViewReceived received)) {
                    return notAnswered(id, answer);
                }
                pending = null;
                // The local row is the timeline's own word; without the shared state it still stands.
                ClusterTimelines.View view = received.view();
                if (received.failure() != null) {
                    ctx.actor().getLog().warn("{}: no cluster view of {}: {}", ctx.client(), id, received.failure());
                    view = ClusterTimelines.View.NONE;
                }
                queries.timelineStatus(status, view).forEach(ctx::write);
                return commandDone();
            };
            return Continue.INSTANCE;
        });
    }

    /** TIMELINE_STATE: the options' timeline's acceptor state, one row (none if it does not exist here). */
    private Outcome timelineState() {
        TenantTimelineId id = ctx.session().optionsTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE,
                    "TIMELINE_STATE needs tenant_id and timeline_id in the startup options");
        }
        ctx.holdReader();
        ctx.resolveTimeline(id);
        pending = answer -> {
            if (answer instanceof Connection.TimelineResolved resolved && resolved.failure() == null) {
                ctx.actor().ask(Timeline.SnapshotReply.class, resolved.timeline(), ConnectionContext.ASK_TIMEOUT,
                        Timeline.GetSnapshot::new, Connection.SnapshotReceived::new);
                return Continue.INSTANCE;
            }
            if (answer instanceof Connection.SnapshotReceived received && received.failure() == null) {
                pending = null;
                queries.timelineState(received.reply().snapshot()).forEach(ctx::write);
                return commandDone();
            }
            return notAnswered(id, answer);
        };
        return Continue.INSTANCE;
    }

    /**
     * PULL_TIMELINE [(from 'HOST:PORT')]: copies the options' timeline from a peer (see
     * {@code TimelineCopy}); one row (donor, term, flush_lsn, commit_lsn) once the WAL is flushed
     * here, or ERROR with the refusal's SQLSTATE. No time limit: the WAL may be large.
     */
    private Outcome pullTimeline(ReplicationCommand.PullTimeline pull) {
        TenantTimelineId id = ctx.session().optionsTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE,
                    "PULL_TIMELINE needs tenant_id and timeline_id in the startup options");
        }
        ctx.holdReader();
        ctx.timelines().tell(new TimelineRegistry.CopyTimeline(id, pull.from(),
                ctx.actor().messageAdapter(TimelineCopy.Result.class, Connection.CopyFinished::new)));
        pending = answer -> {
            if (!(answer instanceof Connection.CopyFinished finished)) {
                return notAnswered(id, answer);
            }
            pending = null;
            if (finished.result() instanceof TimelineCopy.CopyFailed failed) {
                ctx.write(ErrorResponse.error(failed.sqlState(), failed.reason()));
            } else {
                queries.pulled((TimelineCopy.Copied) finished.result()).forEach(ctx::write);
            }
            return commandDone();
        };
        return Continue.INSTANCE;
    }

    /** CLUSTER_STATUS: the members and every timeline position they published (see {@link SimpleQueries}). */
    private Outcome clusterStatus() {
        ctx.holdReader();
        ctx.actor().ask(ClusterTimelines.View.class, ctx.timelines(), ConnectionContext.ASK_TIMEOUT,
                replyTo -> new TimelineRegistry.AskCluster(new ClusterTimelines.GetAll(replyTo)),
                Connection.ClusterViewReceived::new);
        pending = answer -> {
            if (answer instanceof Connection.ClusterViewReceived received && received.failure() == null) {
                pending = null;
                queries.clusterStatus(received.view()).forEach(ctx::write);
                return commandDone();
            }
            pending = null;
            ctx.write(ErrorResponse.error(SqlState.INTERNAL_ERROR, "the cluster state did not answer: " + answer));
            return commandDone();
        };
        return Continue.INSTANCE;
    }

    /**
     * TIMELINE_CONSUMERS: one row per consumer of the served timeline — kind (pull/push), name,
     * address, the LSN sent to it, its reported flush and apply LSNs, and its lag in bytes behind
     * the commit LSN.
     */
    private Outcome timelineConsumers() {
        TenantTimelineId id = ctx.servedTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE,
                    "TIMELINE_CONSUMERS needs tenant_id and timeline_id in the startup options");
        }
        return withTimelineStatus(id, (timeline, status) -> {
            ctx.actor().ask(Timeline.Consumers.class, timeline, ConnectionContext.ASK_TIMEOUT,
                    Timeline.GetConsumers::new, Connection.ConsumersReceived::new);
            pending = answer -> {
                if (answer instanceof Connection.ConsumersReceived received && received.failure() == null) {
                    return withPusherStatuses(received.consumers(), received.consumers().pushers(),
                            new ArrayList<>());
                }
                return notAnswered(id, answer);
            };
            return Continue.INSTANCE;
        });
    }

    /** Asks each push replicator in turn, then answers TIMELINE_CONSUMERS with pull and push rows. */
    private Outcome withPusherStatuses(Timeline.Consumers consumers, List<ActorRef<PushReplicator.Command>> remaining,
                                       List<PushReplicator.Status> statuses) {
        if (remaining.isEmpty()) {
            pending = null;
            queries.consumers(consumers, statuses).forEach(ctx::write);
            return commandDone();
        }
        ctx.actor().ask(PushReplicator.Status.class, remaining.get(0), ConnectionContext.ASK_TIMEOUT,
                PushReplicator.GetStatus::new, Connection.PusherStatusReceived::new);
        pending = answer -> {
            // A replicator that does not answer is left out; the others are still shown.
            if (answer instanceof Connection.PusherStatusReceived received && received.failure() == null) {
                statuses.add(received.status());
            }
            return withPusherStatuses(consumers, remaining.subList(1, remaining.size()), statuses);
        };
        return Continue.INSTANCE;
    }

    /**
     * START_REPLICATION [SLOT s] [PHYSICAL] X/Y [TIMELINE n] [(term='N')]: the served timeline's
     * status decides whether {@link PullReplicationRole} may stream from X/Y.
     */
    private Outcome startReplication(ReplicationCommand.StartReplication start) {
        TenantTimelineId id = ctx.servedTimeline();
        if (id == null) {
            return queryError(SqlState.INVALID_PARAMETER_VALUE, "START_REPLICATION needs tenant_id and timeline_id in"
                    + " the startup options, or a node with walkeeper.default-timeline");
        }
        return withTimelineStatus(id, (timeline, status) -> PullReplicationRole.open(ctx, start, timeline, status)
                .<Outcome>map(role -> {
                    ctx.releaseReader();
                    return new StartReplication(role);
                })
                .orElseGet(this::commandDone));
    }

    /**
     * ADD_DOWNSTREAM, REMOVE_DOWNSTREAM, LIST_DOWNSTREAMS: asked of the cluster's registrations;
     * only on a replication connection (as PostgreSQL's replication commands), answered with the
     * downstreams registered after the change, or the refusal's ERROR.
     */
    private Outcome downstreams(ReplicationCommand command, String tag,
                                Function<ActorRef<RuntimeDownstreams.Reply>, RuntimeDownstreams.Request> request) {
        if (!ctx.session().replication()) {
            return queryError(SqlState.INSUFFICIENT_PRIVILEGE, tag + " needs a replication connection"
                    + " (replication=true in the startup packet)");
        }
        ctx.holdReader();
        ctx.actor().ask(RuntimeDownstreams.Reply.class, ctx.timelines(), DOWNSTREAMS_TIMEOUT,
                replyTo -> new TimelineRegistry.AskDownstreams(request.apply(replyTo)),
                Connection.DownstreamsReceived::new);
        pending = answer -> {
            pending = null;
            if (!(answer instanceof Connection.DownstreamsReceived received) || received.failure() != null) {
                ctx.write(ErrorResponse.error(SqlState.INTERNAL_ERROR, "the cluster did not answer " + tag + ": "
                        + (answer instanceof Connection.DownstreamsReceived r ? r.failure() : answer)));
            } else if (received.reply().errorState() != null) {
                ctx.write(ErrorResponse.error(received.reply().errorState(), received.reply().error()));
            } else {
                ctx.actor().getLog().info("{}: {} by {}", ctx.client(), command, ctx.session().user());
                queries.downstreams(received.reply().downstreams(), tag).forEach(ctx::write);
            }
            return commandDone();
        };
        return Continue.INSTANCE;
    }

    /** START_PUSH_REPLICATION: only on a node that accepts pushes ({@code walkeeper receive}). */
    private Outcome startPushReceiving(ReplicationCommand.StartPushReplication push) {
        if (ctx.pushReceivers() == null) {
            return queryError(SqlState.FEATURE_NOT_SUPPORTED, "START_PUSH_REPLICATION is accepted by nodes run with"
                    + " `walkeeper receive` (walkeeper.receive.enabled = true)");
        }
        return PushReceiverRole.open(ctx, push).<Outcome>map(StartPushReceiving::new).orElse(Continue.INSTANCE);
    }
}
