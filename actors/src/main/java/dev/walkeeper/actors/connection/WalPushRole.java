package dev.walkeeper.actors.connection;

import dev.walkeeper.actors.timeline.Timeline;
import dev.walkeeper.actors.trace.CommitTrace;
import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.protocol.pg.BackendMessage.CopyBothResponse;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.CopyData;
import dev.walkeeper.protocol.pg.CopyDone;
import dev.walkeeper.protocol.pg.Frame;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import dev.walkeeper.protocol.pg.SqlState;
import dev.walkeeper.protocol.safekeeper.AcceptorCodec;
import dev.walkeeper.protocol.safekeeper.AcceptorMessage;
import dev.walkeeper.protocol.safekeeper.ProposerCodec;
import dev.walkeeper.protocol.safekeeper.ProposerMessage;
import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.time.Duration;
import org.apache.pekko.actor.typed.ActorRef;

/**
 * START_WAL_PUSH: the proposer/acceptor protocol inside CopyBoth. The first proposer message must
 * be a greeting naming the timeline; once the registry resolved it, every proposer message goes
 * straight to the {@link Timeline} and every reply straight to the writer, with no actor between.
 * The reader gets its Consumed only when the timeline has processed a message, so a slow disk
 * stops the socket being read (at most {@link #WINDOW} messages decoded ahead).
 *
 * <p>A consensus error ends the stream with ERROR {@code XX000} and the connection closes; the
 * proposer reconnects (as with Neon's safekeeper).
 */
final class WalPushRole {
    /** Unconsumed proposer messages a pushing connection lets its reader decode ahead. */
    static final int WINDOW = 32;

    private enum Phase { AWAITING_GREETING, RESOLVING, PUSHING }

    private final ConnectionContext ctx;
    private final boolean allowTimelineCreation;
    private final CommitTrace trace;
    private Phase phase = Phase.AWAITING_GREETING;
    private ProposerMessage.ProposerGreeting greeting;
    private ActorRef<Timeline.Command> timeline;
    private ActorRef<Timeline.ProposerReply> replies;
    /** Proposer messages the timeline has not processed yet: the node, not the proposer, owes. */
    private int inFlight;
    /** When the proposer last sent a message or the node last caught up with it (nanoTime). */
    private long lastHeard = System.nanoTime();

    private WalPushRole(ConnectionContext ctx, boolean allowTimelineCreation) {
        this.ctx = ctx;
        this.allowTimelineCreation = allowTimelineCreation;
        this.trace = CommitTrace.get(ctx.actor().getSystem());
    }

    /**
     * Answers CopyBoth at once (as Neon's safekeeper); from the next frame on the reader decodes
     * proposer messages, one at a time until the timeline is known.
     */
    static WalPushRole start(ConnectionContext ctx, boolean allowTimelineCreation) {
        ctx.write(CopyBothResponse.REPLICATION);
        WalPushRole role = new WalPushRole(ctx, allowTimelineCreation);
        ctx.switchDecoder(role::decodeProposerFrame, 1);
        return role;
    }

    /**
     * CopyData payloads become proposer messages; other frames stay frontend messages. Runs in the
     * reader as it takes each frame, so the trace's "read" is when the reader got to the frame.
     */
    private Object decodeProposerFrame(Frame frame) {
        long taken = trace.now();
        FrontendMessage message = FrontendCodec.decode(frame);
        if (!(message instanceof CopyData data)) {
            return message;
        }
        ProposerMessage decoded = ProposerCodec.decode(data.data());
        if (decoded instanceof ProposerMessage.AppendRequest append && trace.enabled()) {
            trace.stampAt(Stage.NODE_READ, append.endLsn().value(), taken);
            trace.stamp(Stage.NODE_DECODED, append.endLsn().value());
        }
        return decoded;
    }

    /** One message from the reader. */
    Next onMessage(Object message) {
        lastHeard = System.nanoTime();
        if (phase == Phase.RESOLVING) {
            // The reader is held while the timeline is resolved: nothing else may arrive.
            ctx.unexpected(message, "busy");
            return Next.DRAIN;
        }
        if (!(message instanceof ProposerMessage proposerMessage)) {
            return endOfCopy(message);
        }
        if (phase == Phase.PUSHING) {
            // Consumed is sent when the timeline has processed it.
            ctx.holdReader();
            inFlight++;
            timeline.tell(new Timeline.FromProposer(proposerMessage, allowTimelineCreation, ctx.actor().getSelf(),
                    replies));
            return Next.STAY;
        }
        if (!(message instanceof ProposerMessage.ProposerGreeting first)) {
            return copyError("unexpected " + message.getClass().getSimpleName() + " instead of greeting");
        }
        TenantTimelineId fromOptions = ctx.session().optionsTimeline();
        if (fromOptions != null && !fromOptions.equals(first.id())) {
            return copyError("greeting names timeline " + first.id() + " but the startup options name " + fromOptions);
        }
        greeting = first;
        phase = Phase.RESOLVING;
        ctx.holdReader();
        ctx.resolveTimeline(first.id());
        return Next.STAY;
    }

    /**
     * True when the proposer has sent nothing for {@code timeout} while the node owed it nothing: a
     * node that is slow to resolve the timeline or to process what was sent (a stalled disk holds
     * the reader) does not count the proposer silent.
     */
    boolean silentFor(Duration timeout) {
        return phase != Phase.RESOLVING && inFlight == 0 && System.nanoTime() - lastHeard >= timeout.toNanos();
    }

    /** An answer from the registry or the timeline. */
    Next onAnswer(Connection.Async answer) {
        if (phase == Phase.RESOLVING) {
            return onResolved(answer);
        }
        if (phase == Phase.PUSHING && answer instanceof Connection.FromTimeline from) {
            return onReply(from.reply());
        }
        if (phase == Phase.PUSHING && answer instanceof Connection.TimelineStopped) {
            return copyError("the timeline stopped; reconnect");
        }
        return Next.STAY;
    }

    private Next onResolved(Connection.Async answer) {
        if (!(answer instanceof Connection.TimelineResolved resolved) || resolved.failure() != null) {
            return copyError("timeline " + greeting.id() + " is not available: " + answer);
        }
        timeline = resolved.timeline();
        // One watch for the whole push; the replies come through one adapter, in this actor's mailbox.
        ctx.actor().watchWith(timeline, new Connection.TimelineStopped());
        replies = ctx.actor().messageAdapter(Timeline.ProposerReply.class, Connection.FromTimeline::new);
        inFlight++;
        timeline.tell(new Timeline.FromProposer(greeting, allowTimelineCreation, ctx.actor().getSelf(), replies));
        ctx.switchDecoder(this::decodeProposerFrame, WINDOW);
        phase = Phase.PUSHING;
        return Next.STAY;
    }

    private Next onReply(Timeline.ProposerReply reply) {
        if (reply instanceof Timeline.Reply r) {
            ctx.write(new CopyData(AcceptorCodec.encode(r.message())));
            if (r.message() instanceof AcceptorMessage.AppendResponse response) {
                trace.stamp(Stage.RESPONSE_WRITTEN, response.flushLsn().value());
            }
            return Next.STAY;
        }
        if (reply instanceof Timeline.Processed) {
            inFlight--;
            lastHeard = System.nanoTime();
            ctx.releaseReader();
            return Next.STAY;
        }
        if (reply instanceof Timeline.Failed failed) {
            return failed.silent() ? Next.DRAIN : copyError(failed.reason());
        }
        return copyError("a proposer was elected in term " + ((Timeline.Superseded) reply).term()
                + "; this connection's proposer is superseded");
    }

    /** CopyDone or Terminate end a push; anything else inside CopyBoth is a protocol violation. */
    private Next endOfCopy(Object message) {
        if (!(message instanceof CopyDone) && !(message instanceof Terminate)) {
            ctx.unexpected(message, "CopyBoth");
        }
        return Next.DRAIN;
    }

    private Next copyError(String message) {
        ctx.actor().getLog().info("{}: ending WAL push: {}", ctx.client(), message);
        ctx.write(ErrorResponse.error(SqlState.INTERNAL_ERROR, message));
        return Next.DRAIN;
    }
}
