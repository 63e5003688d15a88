package dev.walkeeper.persistence.journal;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.function.Supplier;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.slf4j.LoggerFactory;

/**
 * The actor system of one test, which can be stopped and started again on the same storage: a
 * recovery in a fresh system must read the journal, not what the old plugin held in memory.
 */
final class RestartableSystem implements AutoCloseable {

    private final Supplier<Config> overrides;
    private ActorTestKit kit;

    /** {@code overrides} is read at every start, on top of the reference configuration. */
    RestartableSystem(Supplier<Config> overrides) {
        this.overrides = overrides;
    }

    /** The running system, started if needed. */
    ActorTestKit kit() {
        if (kit == null) {
            // SLF4J must be initialised before Pekko logs, or it warns about "intercepted" calls.
            LoggerFactory.getILoggerFactory();
            kit = ActorTestKit.create("journal-test", ConfigFactory.load(overrides.get()));
        }
        return kit;
    }

    /** Stops the system and waits until it is gone, plugins and their files included. */
    void stop() {
        if (kit != null) {
            kit.shutdownTestKit();
            kit = null;
        }
    }

    LedgerProbe ledger(String persistenceId, Ledger.Options options) {
        return LedgerProbe.spawn(kit(), persistenceId, options);
    }

    @Override
    public void close() {
        stop();
    }
}
