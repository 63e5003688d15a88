package dev.walkeeper.actors.socket;

import com.typesafe.config.Config;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.dispatch.DispatcherPrerequisites;
import org.apache.pekko.dispatch.ExecutorServiceConfigurator;
import org.apache.pekko.dispatch.ExecutorServiceFactory;

/**
 * A dispatcher executor whose threads are {@link IoLoop}s: actors on it run their mailboxes on a
 * selector thread, so a hop between a connection, its reader and writer is a queue push on the
 * same thread, and the sockets they own are served there too, without cross-thread wake-ups.
 * Configured as {@code executor = "dev.walkeeper.actors.socket.IoLoopExecutor"} with
 * {@code loops = N} (default 1) in the dispatcher's section. An actor always runs on the same
 * loop (chosen by its mailbox), so a socket attached from it lives on that loop.
 *
 * <p>Nothing on such a dispatcher may block: it would stall every socket of its loop.
 */
public final class IoLoopExecutor extends ExecutorServiceConfigurator {
    private final int loops;

    public IoLoopExecutor(Config config, DispatcherPrerequisites prerequisites) {
        super(config, prerequisites);
        this.loops = config.hasPath("loops") ? config.getInt("loops") : 1;
        if (loops < 1) {
            throw new IllegalArgumentException("loops must be at least 1, got " + loops);
        }
    }

    @Override
    public ExecutorServiceFactory createExecutorServiceFactory(String id, ThreadFactory threadFactory) {
        return () -> new Loops(loops, threadFactory);
    }

    /** The loops of one dispatcher as an {@link ExecutorService}. */
    private static final class Loops extends AbstractExecutorService {
        private final IoLoop[] loops;

        Loops(int count, ThreadFactory threadFactory) {
            loops = new IoLoop[count];
            for (int i = 0; i < count; i++) {
                loops[i] = new IoLoop();
                threadFactory.newThread(loops[i]).start();
            }
        }

        @Override
        public void execute(Runnable task) {
            // Pekko hands the same mailbox object for every run of an actor: hashing it keeps the
            // actor, and what it attaches, on one loop.
            IoLoop loop = loops.length == 1 ? loops[0]
                    : loops[Math.floorMod(System.identityHashCode(task), loops.length)];
            if (loop.isShutdown()) {
                throw new RejectedExecutionException("I/O loop shut down");
            }
            loop.execute(task);
        }

        @Override
        public void shutdown() {
            for (IoLoop loop : loops) {
                loop.shutdown();
            }
        }

        @Override
        public List<Runnable> shutdownNow() {
            shutdown();
            return List.of();
        }

        @Override
        public boolean isShutdown() {
            return loops[0].isShutdown();
        }

        @Override
        public boolean isTerminated() {
            try {
                return awaitTermination(0, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }

        @Override
        public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
            long deadline = System.nanoTime() + unit.toNanos(timeout);
            for (IoLoop loop : loops) {
                if (!loop.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    return false;
                }
            }
            return true;
        }
    }
}
