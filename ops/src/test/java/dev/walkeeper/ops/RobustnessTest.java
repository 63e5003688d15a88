package dev.walkeeper.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.cluster.WalkeeperNode;
import dev.walkeeper.protocol.pg.BackendMessage;
import dev.walkeeper.protocol.pg.BackendMessage.DataRow;
import dev.walkeeper.protocol.pg.BackendMessage.ErrorResponse;
import dev.walkeeper.protocol.pg.Bytes;
import dev.walkeeper.protocol.pg.FrontendCodec;
import dev.walkeeper.protocol.pg.FrontendMessage.Query;
import dev.walkeeper.protocol.pg.FrontendMessage.StartupMessage;
import dev.walkeeper.protocol.pg.FrontendMessage.Terminate;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Random and mutated packets over real sockets, many connections at once: the node answers what
 * it can with an ErrorResponse and closes, and it keeps serving well-behaved clients throughout
 * and afterwards. The test JVM's heap is bounded (see the parent pom), so a giant length field
 * that the node tried to allocate would kill the run.
 */
class RobustnessTest {
    private static final int THREADS = 8;
    private static final int CONNECTIONS_PER_THREAD = 420;
    private static final int MIN_PACKETS = 10_000;

    @TempDir
    Path dataDir;

    @Test
    void thousandsOfMalformedPacketsLeaveTheNodeServing() throws Exception {
        try (WalkeeperNode node = TestNodes.start(dataDir, "walkeeper.connection.startup-timeout = 2s")) {
            InetSocketAddress address = node.address();
            AtomicInteger packets = new AtomicInteger();
            AtomicInteger errorResponses = new AtomicInteger();
            AtomicBoolean fuzzing = new AtomicBoolean(true);

            // A well-behaved client works on its own connection the whole time.
            ExecutorService pool = Executors.newFixedThreadPool(THREADS + 1);
            Future<Integer> bystander = pool.submit(() -> {
                int rounds = 0;
                try (WireClient client = loggedIn(address)) {
                    while (fuzzing.get() || rounds == 0) {
                        identifySystem(client);
                        rounds++;
                    }
                }
                return rounds;
            });

            List<Future<?>> fuzzers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                long seed = 0x5eed0000L + t;
                fuzzers.add(pool.submit(() -> {
                    Random random = new Random(seed);
                    for (int i = 0; i < CONNECTIONS_PER_THREAD; i++) {
                        fuzzOneConnection(address, random, packets, errorResponses);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fuzzers) {
                f.get(5, TimeUnit.MINUTES);
            }
            fuzzing.set(false);
            int rounds = bystander.get(1, TimeUnit.MINUTES);
            pool.shutdown();

            assertTrue(packets.get() >= MIN_PACKETS, "sent " + packets.get() + " packets");
            assertTrue(errorResponses.get() > THREADS * CONNECTIONS_PER_THREAD / 4,
                    "the node answered bad input with ErrorResponses (" + errorResponses.get() + ")");
            assertTrue(rounds > 0);
            try (WireClient client = loggedIn(address)) {
                identifySystem(client);
            }
        }
    }

    private static WireClient loggedIn(InetSocketAddress address) throws IOException {
        WireClient client = new WireClient(address, Duration.ofSeconds(10));
        client.send(new StartupMessage(196608, Map.of("user", "bystander", "replication", "true")));
        BackendMessage m;
        while (!((m = client.receive()) instanceof BackendMessage.ReadyForQuery)) {
            if (m == null || m instanceof ErrorResponse) {
                throw new AssertionError("login failed: " + m);
            }
        }
        return client;
    }

    private static void identifySystem(WireClient client) throws IOException {
        client.send(new Query("IDENTIFY_SYSTEM"));
        assertInstanceOf(BackendMessage.RowDescription.class, client.receive());
        assertEquals(4, assertInstanceOf(DataRow.class, client.receive()).values().size());
        assertInstanceOf(BackendMessage.CommandComplete.class, client.receive());
        assertInstanceOf(BackendMessage.ReadyForQuery.class, client.receive());
    }

    private static final byte[] STARTUP = FrontendCodec.encode(
            new StartupMessage(196608, Map.of("user", "fuzz", "replication", "true")));

    /** One connection with a few packets of one kind of abuse; then reads whatever the node answers. */
    private static void fuzzOneConnection(InetSocketAddress address, Random random, AtomicInteger packets,
                                          AtomicInteger errorResponses) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int scenario = random.nextInt(7);
        switch (scenario) {
            case 0 -> { // random bytes where a startup packet should be
                out.writeBytes(randomBytes(random, 1 + random.nextInt(64)));
                packets.incrementAndGet();
            }
            case 1 -> { // a valid startup, then typed packets with random types and bodies
                out.writeBytes(STARTUP);
                for (int i = 0; i < 5; i++) {
                    byte[] body = randomBytes(random, random.nextInt(40));
                    out.write("QdcfXpSBPEDH\0\u00ff".charAt(random.nextInt(14)));
                    out.writeBytes(Bytes.int32(body.length + 4));
                    out.writeBytes(body);
                }
                packets.addAndGet(6);
            }
            case 2 -> { // valid messages with bits flipped
                byte[] valid = Bytes.concat(STARTUP, FrontendCodec.encode(new Query("IDENTIFY_SYSTEM")),
                        FrontendCodec.encode(new Query("SHOW wal_segment_size")), FrontendCodec.encode(new Terminate()));
                for (int flips = 1 + random.nextInt(4); flips > 0; flips--) {
                    valid[random.nextInt(valid.length)] ^= (byte) (1 << random.nextInt(8));
                }
                out.writeBytes(valid);
                packets.addAndGet(4);
            }
            case 3 -> { // giant length fields, in the startup phase and after it
                if (random.nextBoolean()) {
                    out.writeBytes(Bytes.int32(0x7fffffff - random.nextInt(100)));
                    out.writeBytes(Bytes.int32(196608));
                    packets.incrementAndGet();
                } else {
                    out.writeBytes(STARTUP);
                    out.write('Q');
                    out.writeBytes(Bytes.int32(0x7ffffff0 + random.nextInt(15)));
                    out.writeBytes(randomBytes(random, 16));
                    packets.addAndGet(2);
                }
            }
            case 4 -> { // truncated packets: the header promises more than ever arrives
                out.writeBytes(STARTUP);
                out.write('Q');
                out.writeBytes(Bytes.int32(1000));
                out.writeBytes("IDENT".getBytes());
                packets.addAndGet(2);
            }
            case 5 -> { // random text as commands: each gets an ERROR and the session goes on
                out.writeBytes(STARTUP);
                for (int i = 0; i < 5; i++) {
                    out.writeBytes(FrontendCodec.encode(new Query(randomText(random))));
                }
                out.writeBytes(FrontendCodec.encode(new Terminate()));
                packets.addAndGet(7);
            }
            default -> { // startup packets with broken parameter lists and versions
                byte[] body = Bytes.concat(Bytes.int32(random.nextBoolean() ? 196608 : random.nextInt()),
                        randomBytes(random, random.nextInt(30)));
                out.writeBytes(Bytes.int32(body.length + 4));
                out.writeBytes(body);
                packets.incrementAndGet();
            }
        }
        try (Socket socket = new Socket()) {
            socket.connect(address, 5000);
            // Where the node rightly waits for more bytes (a truncated packet), the client gives up.
            socket.setSoTimeout(250);
            socket.getOutputStream().write(out.toByteArray());
            if (messageTypes(readUntilClosedOrIdle(socket.getInputStream())).contains("E")) {
                errorResponses.incrementAndGet();
            }
        }
    }

    private static byte[] readUntilClosedOrIdle(InputStream in) {
        ByteArrayOutputStream received = new ByteArrayOutputStream();
        byte[] buffer = new byte[8192];
        try {
            for (int n; (n = in.read(buffer)) >= 0; ) {
                received.write(buffer, 0, n);
            }
        } catch (IOException idleOrReset) {
            // what arrived before is what counts
        }
        return received.toByteArray();
    }

    /** The type bytes of the framed messages the node sent. */
    private static String messageTypes(byte[] all) {
        StringBuilder types = new StringBuilder();
        int i = 0;
        while (i + 5 <= all.length) {
            types.append((char) all[i]);
            int length = ((all[i + 1] & 0xff) << 24) | ((all[i + 2] & 0xff) << 16) | ((all[i + 3] & 0xff) << 8)
                    | (all[i + 4] & 0xff);
            i += 1 + Math.max(length, 4);
        }
        return types.toString();
    }

    private static byte[] randomBytes(Random random, int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }

    private static String randomText(Random random) {
        String[] words = {"IDENTIFY_SYSTEM", "SHOW", "START_REPLICATION", "START_WAL_PUSH", "TIMELINE_HISTORY",
            "SLOT", "PHYSICAL", "0/0", "FF/FFFFFFFF", "(", ")", "'", "proto_version", ";", "\u00e9", "--", "x"};
        StringBuilder sb = new StringBuilder();
        for (int i = random.nextInt(6); i >= 0; i--) {
            sb.append(words[random.nextInt(words.length)]).append(random.nextBoolean() ? " " : "");
        }
        return sb.toString();
    }
}
