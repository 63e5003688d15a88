package dev.walkeeper.actors.socket;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One selector thread: runs queued tasks (actor mailboxes when it serves a dispatcher, socket
 * work) and dispatches socket readiness, all on the same thread. A round runs up to
 * {@link #TASKS_PER_ROUND} tasks, then polls the selector — without blocking while tasks wait,
 * so sockets are never starved by a busy mailbox and mailboxes never by a busy socket.
 */
final class IoLoop implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(IoLoop.class);
    private static final int TASKS_PER_ROUND = 1024;
    private static final ThreadLocal<IoLoop> CURRENT = new ThreadLocal<>();

    /** Reacts to readiness of a channel registered with this loop's selector. */
    interface Handler {
        void ready(SelectionKey key);
    }

    private final Selector selector;
    private final Queue<Runnable> tasks = new ConcurrentLinkedQueue<>();
    /** True while the loop blocks (or is about to block) in select: only then a wake-up is needed. */
    private final AtomicBoolean sleeping = new AtomicBoolean();
    private final CountDownLatch terminated = new CountDownLatch(1);
    private volatile boolean shutdown;
    private volatile Thread thread;

    IoLoop() {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a selector", e);
        }
    }

    /** The loop running on this thread, or {@code null}. */
    static IoLoop current() {
        return CURRENT.get();
    }

    boolean inLoop() {
        return Thread.currentThread() == thread;
    }

    Selector selector() {
        return selector;
    }

    /** Queues a task; wakes the selector only if the loop sleeps in it and the caller is another thread. */
    void execute(Runnable task) {
        tasks.add(task);
        if (sleeping.get() && !inLoop() && sleeping.compareAndSet(true, false)) {
            selector.wakeup();
        }
    }

    /** Runs {@code task} now if this is the loop's thread, else queues it. */
    void run(Runnable task) {
        if (inLoop()) {
            task.run();
        } else {
            execute(task);
        }
    }

    /**
     * On the loop's own thread: true when no task is queued and no registered socket is ready,
     * i.e. blocking this thread for a moment delays nobody (as far as can be seen: messages for
     * the actor now running are in its own mailbox, not here).
     */
    boolean nothingElseWaits() throws IOException {
        if (!tasks.isEmpty()) {
            return false;
        }
        // A non-consuming look: the keys it selects are dropped, the next select sees them again.
        int ready = selector.selectNow();
        selector.selectedKeys().clear();
        return ready == 0;
    }

    boolean isShutdown() {
        return shutdown;
    }

    void shutdown() {
        shutdown = true;
        selector.wakeup();
    }

    boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
        return terminated.await(timeout, unit);
    }

    @Override
    public void run() {
        thread = Thread.currentThread();
        CURRENT.set(this);
        try {
            while (!shutdown) {
                runTasks();
                if (tasks.isEmpty()) {
                    sleeping.set(true);
                    // A task queued between the check above and here saw sleeping and woke us.
                    if (tasks.isEmpty()) {
                        selector.select(this::dispatch);
                    } else {
                        selector.selectNow(this::dispatch);
                    }
                    sleeping.set(false);
                } else {
                    selector.selectNow(this::dispatch);
                }
            }
        } catch (IOException e) {
            log.error("I/O loop {} failed", thread.getName(), e);
        } finally {
            closeAll();
            CURRENT.remove();
            terminated.countDown();
        }
    }

    private void runTasks() {
        for (int i = 0; i < TASKS_PER_ROUND; i++) {
            Runnable task = tasks.poll();
            if (task == null) {
                return;
            }
            try {
                task.run();
            } catch (Throwable t) {
                // A mailbox handles its actor's failures; anything reaching here is a bug in a task.
                log.error("task failed on I/O loop {}", thread.getName(), t);
            }
        }
    }

    private void dispatch(SelectionKey key) {
        try {
            ((Handler) key.attachment()).ready(key);
        } catch (RuntimeException e) {
            log.error("socket handler failed on I/O loop {}", thread.getName(), e);
        }
    }

    private void closeAll() {
        for (SelectionKey key : selector.keys()) {
            try {
                key.channel().close();
            } catch (IOException ignored) {
                // Shutting down: nothing more to report to.
            }
        }
        try {
            selector.close();
        } catch (IOException ignored) {
            // Same.
        }
    }
}
