package dev.walkeeper.ops.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.walkeeper.actors.trace.Stage;
import dev.walkeeper.actors.trace.TraceFile;
import dev.walkeeper.actors.trace.TraceRecorder;
import dev.walkeeper.ops.Main;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code walkeeper bench trace FILE...} over trace files written as a node and a load generator write them. */
class TraceCommandTest {
    @TempDir
    Path dir;

    @Test
    void printsTheStagesOfTheGivenFilesAndNamesAMissingOne() throws IOException {
        TraceRecorder load = new TraceRecorder("load", 10, 0);
        TraceRecorder node = new TraceRecorder("node", 10, 0);
        long t = System.nanoTime();
        load.stampAt(Stage.LOAD_SENT, 8192, 0, t);
        node.stampAt(Stage.FSYNC_DONE, 8192, 0, t + 2_000_000);
        load.stampAt(Stage.LOAD_ACKED, 8192, 0, t + 3_000_000);
        TraceFile.write(load.snapshot(), dir.resolve("load.trace"));
        TraceFile.write(node.snapshot(), dir.resolve("node.trace"));
        StringWriter out = new StringWriter();
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(new PrintWriter(out, true));

        int exitCode = cli.execute("bench", "trace", dir.resolve("load.trace").toString(),
                dir.resolve("node.trace").toString(), dir.resolve("bridge.trace").toString());

        assertEquals(0, exitCode);
        String table = out.toString();
        assertTrue(table.matches("(?s).*FSYNC_DONE +LOAD_SENT +1 +0 +2\\.000 +2\\.000.*"), table);
        assertTrue(table.matches("(?s).*LOAD_ACKED +FSYNC_DONE +1 +0 +1\\.000 +1\\.000.*"), table);
        assertTrue(table.matches("(?s).*end to end +LOAD_SENT to LOAD_ACKED +1 +0 +3\\.000 +3\\.000.*"), table);
        assertTrue(table.contains("no trace file " + dir.resolve("bridge.trace")), table);
    }
}
