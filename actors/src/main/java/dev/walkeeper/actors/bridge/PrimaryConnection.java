package dev.walkeeper.actors.bridge;

import dev.walkeeper.actors.socket.SocketFactory;
import dev.walkeeper.protocol.Lsn;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

/**
 * The {@link Bridge}'s connection to the primary: the current {@link PrimaryReplicationClient}
 * (a new generation per reconnect, so a replaced client's late events are told apart), the
 * backoff before a reconnect, and where a flush report goes (the streaming client's writer, else
 * the client). Owned by the bridge actor and only used from its message handling; whether a
 * failure is retried at all is the bridge's decision.
 */
final class PrimaryConnection {

    private final ActorContext<Bridge.Command> ctx;
    private final TimerScheduler<Bridge.Command> timers;
    private final Bridge.Settings settings;
    private final Function<InetSocketAddress, SocketFactory> sockets;
    private final ActorRef<PrimaryReplicationClient.Event> events;
    /** Null while waiting to reconnect. */
    private ActorRef<PrimaryReplicationClient.Command> client;
    /** The streaming client's status updates; null until its {@code Streaming}. */
    private StandbyStatusReporter status;
    private int generation;
    private Duration backoff;

    PrimaryConnection(ActorContext<Bridge.Command> ctx, TimerScheduler<Bridge.Command> timers, Bridge.Settings settings,
                      Function<InetSocketAddress, SocketFactory> sockets,
                      ActorRef<PrimaryReplicationClient.Event> events) {
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.sockets = sockets;
        this.events = events;
        this.backoff = settings.minBackoff();
        spawn();
    }

    /** Whether the event comes from the current client (not one already replaced). */
    boolean isCurrent(PrimaryReplicationClient.Event event) {
        return event.client().equals(client);
    }

    /** Whether there is a client (none while waiting to reconnect). */
    boolean connected() {
        return client != null;
    }

    void tell(PrimaryReplicationClient.Command command) {
        client.tell(command);
    }

    /** The client streams: its next failure is retried after the shortest delay again. */
    void streaming(PrimaryReplicationClient.Streaming s, Lsn reportedFlush) {
        ctx.getLog().info("primary streaming from {} on timeline {}", s.startLsn(), s.timeline());
        backoff = settings.minBackoff();
        status = s.status();
        status.report(reportedFlush); // an advance while it was starting went to the client
    }

    /** Tells the primary the standby's flush position, on the streaming client's writer at once if it streams. */
    void reportFlushed(Lsn commit) {
        if (status != null) {
            status.report(commit);
        } else if (client != null) { // not streaming yet: it reports once it is
            client.tell(new PrimaryReplicationClient.ReportFlushed(commit));
        } // else the next client gets it when it starts streaming
    }

    /** The client failed: a new one after the backoff, which doubles for the next failure. */
    void retryLater(PrimaryReplicationClient.Failed failed) {
        ctx.getLog().warn("primary connection failed, retrying in {}: {} (SQLSTATE {})", backoff,
                failed.reason(), failed.sqlState());
        client = null;
        status = null;
        timers.startSingleTimer(Bridge.ReconnectPrimary.INSTANCE, Bridge.ReconnectPrimary.INSTANCE, backoff);
        backoff = Bridge.doubled(backoff, settings.maxBackoff());
    }

    void reconnect() {
        if (client == null) {
            spawn();
        }
    }

    private void spawn() {
        client = ctx.spawn(PrimaryReplicationClient.create(settings.primary(), events,
                        sockets.apply(settings.primaryAddress())),
                "primary-" + (++generation));
    }

    void stop() {
        if (client != null) {
            client.tell(PrimaryReplicationClient.Stop.INSTANCE);
        }
    }
}
