package dev.walkeeper.ops;

import dev.walkeeper.protocol.safekeeper.TenantTimelineId;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/** {@code walkeeper timeline ...}: operations on one timeline of a node. */
@Command(name = "timeline", mixinStandardHelpOptions = true, description = "Operations on a timeline of a node.",
        subcommands = {TimelineCommand.Copy.class, CommandLine.HelpCommand.class})
class TimelineCommand {

    /**
     * {@code walkeeper timeline copy}: tells a node that lacks a timeline (a new, empty node
     * replacing a lost one) to copy it from a peer — {@code PULL_TIMELINE} — and waits until the
     * copied WAL is flushed there. Exit status: 0 copied; 1 the node could not be reached (or the
     * login failed, or the connection broke); 2 usage; 3 the node refused or the copy failed (its
     * SQLSTATE is printed: 42710 the timeline is already there, 42704 no peer holds it, 08001 the
     * donor cannot be reached, 08006 the donor's WAL stream broke).
     */
    @Command(name = "copy", mixinStandardHelpOptions = true,
            description = "Copy a timeline to a node that lacks it (a node replacing a lost one) from a peer.")
    static final class Copy implements Callable<Integer> {
        static final int UNREACHABLE = 1;
        static final int REFUSED = 3;

        @Spec
        CommandSpec spec;

        @Option(names = "--node", required = true, paramLabel = "HOST:PORT",
                description = "The node that gets the timeline (its PostgreSQL-protocol address).")
        String node;

        @Option(names = "--timeline", required = true, paramLabel = "TENANT/TIMELINE",
                description = "The timeline, as 32-hex tenant id / 32-hex timeline id.")
        String timeline;

        @Option(names = "--from", paramLabel = "HOST:PORT",
                description = "The peer to copy from (default: the most advanced member that is up).")
        String from;

        @Option(names = "--user", defaultValue = "walkeeper", paramLabel = "USER",
                description = "User for the node (default ${DEFAULT-VALUE}); password from WALKEEPER_PASSWORD.")
        String user;

        @Option(names = "--timeout", defaultValue = "3600", paramLabel = "SECONDS",
                description = "How long the copy may take (default ${DEFAULT-VALUE} s).")
        long timeoutSeconds;

        @Override
        public Integer call() {
            InetSocketAddress address = HostPort.parse(spec, "--node", node);
            TenantTimelineId id = parseTimeline();
            if (from != null && !from.matches("\\S+:\\d{1,5}")) {
                throw new ParameterException(spec.commandLine(), "--from must be HOST:PORT, got " + from);
            }
            PrintWriter err = spec.commandLine().getErr();
            String options = "-c tenant_id=" + id.tenantId() + " timeline_id=" + id.timelineId();
            // The node answers once, at the end; its log carries the progress lines.
            err.printf("walkeeper timeline copy: copying %s to %s from %s (progress in that node's log)%n", id, node,
                    from == null ? "the most advanced member" : from);
            err.flush();
            StatusClient.Result result;
            try (StatusClient client = StatusClient.connect(address, user,
                    System.getenv(ProposeCommand.NODE_PASSWORD_ENV), Duration.ofSeconds(10), options)) {
                client.readTimeout(Duration.ofSeconds(timeoutSeconds));
                result = client.query(from == null ? "PULL_TIMELINE" : "PULL_TIMELINE (from '" + from + "')");
            } catch (StatusClient.StatusException e) {
                err.println("walkeeper timeline copy: " + node + ": " + e.getMessage());
                return e.sqlState() != null ? REFUSED : UNREACHABLE;
            } catch (IOException e) {
                err.println("walkeeper timeline copy: " + node + ": " + e);
                return UNREACHABLE;
            }
            List<String> row = result.rows().get(0);
            PrintWriter out = spec.commandLine().getOut();
            out.printf("timeline %s copied to %s from %s: term %s, flush %s, commit %s%n", id, node,
                    result.value(row, "donor"), result.value(row, "term"), result.value(row, "flush_lsn"),
                    result.value(row, "commit_lsn"));
            out.flush();
            return 0;
        }

        private TenantTimelineId parseTimeline() {
            int slash = timeline.indexOf('/');
            try {
                if (slash > 0) {
                    return new TenantTimelineId(timeline.substring(0, slash), timeline.substring(slash + 1));
                }
            } catch (IllegalArgumentException e) {
                throw new ParameterException(spec.commandLine(), "--timeline: " + e.getMessage());
            }
            throw new ParameterException(spec.commandLine(), "--timeline must be TENANT/TIMELINE, got " + timeline);
        }
    }
}
