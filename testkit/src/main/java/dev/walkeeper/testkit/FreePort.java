package dev.walkeeper.testkit;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Finds free TCP ports on 127.0.0.1 for test servers.
 *
 * <p>Ports come from below Linux's ephemeral range (32768 and up): an ephemeral port handed out by
 * the kernel can be taken a moment later by any outgoing connection, which then makes the server
 * fail to bind. Ports handed out before are not repeated within this JVM, so servers that are
 * created but not started yet do not collide with each other.
 */
public final class FreePort {

    private static final int LOWEST = 15000;
    private static final int HIGHEST_EXCLUSIVE = 32768;
    private static final Set<Integer> HANDED_OUT = new HashSet<>();

    private FreePort() {
    }

    public static synchronized int find() {
        for (int attempt = 0; attempt < 1000; attempt++) {
            int port = ThreadLocalRandom.current().nextInt(LOWEST, HIGHEST_EXCLUSIVE);
            if (!HANDED_OUT.contains(port) && isFree(port)) {
                HANDED_OUT.add(port);
                return port;
            }
        }
        throw new IllegalStateException("No free TCP port found on 127.0.0.1 in [" + LOWEST + ", "
                + HIGHEST_EXCLUSIVE + ")");
    }

    /** Whether something could listen on {@code port} of 127.0.0.1 right now. */
    public static boolean isFree(int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 1);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
