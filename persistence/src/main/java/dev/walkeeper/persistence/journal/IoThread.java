package dev.walkeeper.persistence.journal;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import scala.concurrent.Future;
import scala.jdk.javaapi.FutureConverters;

/**
 * The one thread a plugin does its file work on. Blocking reads and fsyncs stay off the actor
 * dispatcher, tasks run strictly in submission order, and state touched only by tasks needs no
 * locks.
 */
final class IoThread {

    private final String name;
    private final ExecutorService executor;

    IoThread(String name) {
        this.name = name;
        this.executor = Executors.newSingleThreadExecutor(task -> {
            Thread thread = new Thread(task, name);
            // Never keeps a JVM alive; stop() is where pending work is waited for.
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Runs {@code task} after everything submitted before it; its outcome completes the future. */
    <T> Future<T> call(Task<T> task) {
        CompletableFuture<T> result = new CompletableFuture<>();
        executor.execute(() -> {
            try {
                result.complete(task.run());
            } catch (Exception | Error e) {
                result.completeExceptionally(e);
            }
        });
        return FutureConverters.asScala(result);
    }

    void execute(Runnable task) {
        executor.execute(task);
    }

    /**
     * Runs the tasks already submitted, then stops.
     *
     * @throws IllegalStateException if they are still running after {@code wait}
     */
    void stop(Duration wait) throws InterruptedException {
        executor.shutdown();
        if (!executor.awaitTermination(wait.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException(name + ": file work still running " + wait + " after stop");
        }
    }

    @FunctionalInterface
    interface Task<T> {
        T run() throws Exception;
    }
}
