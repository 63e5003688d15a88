package dev.walkeeper.persistence.wal;

import java.util.concurrent.CountDownLatch;

/** Waits that an interrupt must not cut short: the awaited work uses files the waiter is about to touch. */
final class Uninterruptibly {
    private Uninterruptibly() {}

    /** Waits for {@code latch}, then restores the thread's interrupt status if it was interrupted meanwhile. */
    static void await(CountDownLatch latch) {
        boolean interrupted = false;
        for (;;) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
