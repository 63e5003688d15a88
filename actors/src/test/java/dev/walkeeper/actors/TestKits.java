package dev.walkeeper.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.slf4j.LoggerFactory;

/** Test actor systems, created the way the node creates its own. Shared by the actors' test packages. */
public final class TestKits {
    private TestKits() {}

    public static ActorTestKit create() {
        // SLF4J must be initialised before Pekko logs, or it warns about "intercepted" calls.
        LoggerFactory.getILoggerFactory();
        return ActorTestKit.create();
    }

    /** With {@code config} in front of the defaults (e.g. the persistence testkit journal). */
    public static ActorTestKit create(Config config) {
        LoggerFactory.getILoggerFactory();
        return ActorTestKit.create(config.withFallback(ConfigFactory.load()));
    }
}
