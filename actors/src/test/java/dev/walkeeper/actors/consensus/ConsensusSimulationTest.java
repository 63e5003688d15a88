package dev.walkeeper.actors.consensus;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.protocol.Seeds;
import java.util.stream.LongStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The consensus rules under a seeded simulation ({@link ConsensusSimulation}): a network that
 * drops connections, delays and reorders messages across them and partitions; crashes that lose
 * unflushed WAL and unjournaled state; competing proposers. The invariants are checked after
 * every step. A failure names its seed: {@code -Dwalkeeper.seed=S} replays it alone, and
 * {@code -Dwalkeeper.seeds=10000} runs a longer campaign.
 */
class ConsensusSimulationTest {
    /** As many seeds as Neon's simulation runs in CI. */
    static final int DEFAULT_SEEDS = 500;
    static final int STEPS = 3000;

    static LongStream seeds() {
        return Seeds.of(DEFAULT_SEEDS);
    }

    @ParameterizedTest(name = "seed {0}")
    @MethodSource("seeds")
    void invariantsHoldUnderFaults(long seed) {
        try {
            ConsensusSimulation sim = new ConsensusSimulation(seed);
            sim.run(STEPS);
            // A run that never elects or commits would check nothing.
            assertTrue(sim.elections > 0 && sim.committedEnd().compareTo(ConsensusSimulation.BASE) > 0,
                    () -> "nothing elected or committed: " + sim + sim.lastSteps());
        } catch (Throwable failure) {
            throw Seeds.failed(seed, failure);
        }
    }
}
