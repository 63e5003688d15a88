package dev.walkeeper.actors.connection;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.slf4j.LoggerFactory;

/** Test actor systems, created the way the node creates its own. */
final class TestKits {
    private TestKits() {}

    static ActorTestKit create() {
        // SLF4J must be initialised before Pekko logs, or it warns about "intercepted" calls.
        LoggerFactory.getILoggerFactory();
        return ActorTestKit.create();
    }
}
