package dev.walkeeper.actors.socket;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.SelectionKey;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Extension;
import org.apache.pekko.actor.typed.ExtensionId;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The NIO socket layer of an actor system: binds listening sockets, opens outgoing ones, and
 * picks the {@link IoLoop} a socket lives on — the caller's own loop when it runs on an
 * {@link IoLoopExecutor} dispatcher (so the socket and its actors share a thread), else a loop
 * thread of this extension's own (any other dispatcher works too, with cross-thread hand-offs).
 * Every socket has TCP_NODELAY on: the protocol's small messages are latency-bound.
 */
public final class SocketIo implements Extension {
    private static final Logger log = LoggerFactory.getLogger(SocketIo.class);

    public static final ExtensionId<SocketIo> ID = new ExtensionId<>() {
        @Override
        public SocketIo createExtension(ActorSystem<?> system) {
            return new SocketIo(system);
        }
    };

    /**
     * True when the calling thread is an I/O loop with nothing else to do: a short blocking call
     * (one fsync) made here delays no other message or socket, and saves the two thread hand-offs
     * of passing the work to another thread and back. False on any other thread.
     */
    public static boolean callerIsIdleLoop() {
        IoLoop loop = IoLoop.current();
        if (loop == null) {
            return false;
        }
        try {
            return loop.nothingElseWaits();
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * On an I/O loop's thread: queues {@code task} behind every task queued now and returns true;
     * elsewhere does nothing and returns false.
     */
    public static boolean runAfterQueued(Runnable task) {
        IoLoop loop = IoLoop.current();
        if (loop == null) {
            return false;
        }
        loop.execute(task);
        return true;
    }

    public static SocketIo get(ActorSystem<?> system) {
        return ID.apply(system);
    }

    /** A listening socket. */
    public interface Binding {
        InetSocketAddress localAddress();

        /** Stops accepting and releases the port; completes once it is released. */
        CompletionStage<Void> unbind();
    }

    private final ActorSystem<?> system;
    private final IoLoop own = new IoLoop();

    private SocketIo(ActorSystem<?> system) {
        this.system = system;
        Thread thread = new Thread(own, system.name() + "-socket-io");
        thread.setDaemon(true);
        thread.start();
        system.getWhenTerminated().thenRun(own::shutdown);
    }

    /** The loop for a socket attached from the current thread. */
    IoLoop loop() {
        IoLoop current = IoLoop.current();
        return current != null ? current : own;
    }

    Cancellable schedule(Duration delay, Runnable task) {
        return system.scheduler().scheduleOnce(delay, task, system.executionContext());
    }

    /** Where host names are resolved: never on a loop, where a slow DNS would stall every socket. */
    Executor blocking() {
        return system.dispatchers().lookup(DispatcherSelector.blocking());
    }

    static void configure(SocketChannel channel) throws IOException {
        channel.configureBlocking(false);
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
    }

    /**
     * Binds {@code address} at once (a failure throws) and hands every accepted socket to
     * {@code onAccept}, on the loop's thread.
     */
    public Binding bind(InetSocketAddress address, Consumer<IncomingSocket> onAccept) throws IOException {
        ServerSocketChannel server = ServerSocketChannel.open();
        try {
            server.configureBlocking(false);
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.bind(address);
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        InetSocketAddress local = (InetSocketAddress) server.getLocalAddress();
        IoLoop loop = loop();
        IoLoop.Handler acceptor = key -> accept(server, onAccept);
        loop.run(() -> {
            try {
                server.register(loop.selector(), SelectionKey.OP_ACCEPT, acceptor);
            } catch (IOException e) {
                log.error("cannot accept on {}", local, e);
            }
        });
        return new Binding() {
            @Override
            public InetSocketAddress localAddress() {
                return local;
            }

            @Override
            public CompletionStage<Void> unbind() {
                CompletableFuture<Void> done = new CompletableFuture<>();
                loop.run(() -> {
                    try {
                        server.close();
                    } catch (IOException e) {
                        log.warn("closing the listening socket {}: {}", local, e.toString());
                    }
                    done.complete(null);
                });
                return done;
            }
        };
    }

    private static void accept(ServerSocketChannel server, Consumer<IncomingSocket> onAccept) {
        while (true) {
            SocketChannel channel;
            try {
                channel = server.accept();
                if (channel == null) {
                    return;
                }
            } catch (IOException e) {
                log.warn("accept on {} failed: {}", server.socket().getLocalSocketAddress(), e.toString());
                return;
            }
            try {
                configure(channel);
                onAccept.accept(new IncomingSocket(channel, (InetSocketAddress) channel.getRemoteAddress()));
            } catch (IOException e) {
                // The peer went away between connect and accept: nothing to serve.
                try {
                    channel.close();
                } catch (IOException ignored) {
                    // Already gone.
                }
            }
        }
    }
}
