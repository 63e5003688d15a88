package dev.walkeeper.actors.consensus;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Journal fake: events apply at once; they become durable (and their callbacks run) either at
 * once or, when {@code deferred}, only on {@link #makeDurable()}. A "reboot" rebuilds the state
 * from the durable events alone, as recovery after a crash would.
 */
final class InMemoryStateStore implements Acceptor.StateStore {
    private final List<AcceptorEvent> durable = new ArrayList<>();
    private final ArrayDeque<Pending> pending = new ArrayDeque<>();
    private final boolean deferred;
    private AcceptorState state;

    private record Pending(List<AcceptorEvent> events, Runnable afterDurable) {}

    InMemoryStateStore(boolean deferred) {
        this(List.of(), deferred);
    }

    private InMemoryStateStore(List<AcceptorEvent> recovered, boolean deferred) {
        this.deferred = deferred;
        this.durable.addAll(recovered);
        AcceptorState s = AcceptorState.EMPTY;
        for (AcceptorEvent e : recovered) {
            s = s.apply(e);
        }
        this.state = s;
    }

    @Override
    public AcceptorState state() {
        return state;
    }

    @Override
    public void persist(List<AcceptorEvent> events, Runnable afterDurable) {
        for (AcceptorEvent e : events) {
            state = state.apply(e);
        }
        pending.add(new Pending(List.copyOf(events), afterDurable));
        if (!deferred) {
            makeDurable();
        }
    }

    void makeDurable() {
        Pending p;
        while ((p = pending.poll()) != null) {
            durable.addAll(p.events());
            p.afterDurable().run();
        }
    }

    List<AcceptorEvent> durableEvents() {
        return List.copyOf(durable);
    }

    /** What a restarted node recovers: durable events only. */
    InMemoryStateStore reboot() {
        return new InMemoryStateStore(durable, deferred);
    }
}
