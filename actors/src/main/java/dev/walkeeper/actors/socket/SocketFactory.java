package dev.walkeeper.actors.socket;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.ActorContext;

/**
 * Gives a connection actor its two socket halves as children. The TCP implementation wires them
 * to a real socket; tests pass one that hands back probes, so the connection's state machine runs
 * without a network.
 */
@FunctionalInterface
public interface SocketFactory {

    /** Both halves of one socket, each an actor owned by the connection. */
    record Halves(ActorRef<SocketReader.Command> reader, ActorRef<SocketWriter.Command> writer) {}

    /**
     * Spawns (or provides) the reader and writer for the connection whose context this is; the
     * reader reports to {@code events}.
     */
    <T> Halves attach(ActorContext<T> context, ActorRef<SocketReader.Event> events);
}
