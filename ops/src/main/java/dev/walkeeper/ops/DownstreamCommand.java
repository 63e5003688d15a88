package dev.walkeeper.ops;

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
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code walkeeper downstream add|remove|list}: registers, removes or lists the downstreams kept in
 * the cluster's shared state, through any one node (ADD_DOWNSTREAM, REMOVE_DOWNSTREAM,
 * LIST_DOWNSTREAMS over a replication connection). The timeline's pusher starts or stops pushing
 * within seconds.
 */
@Command(name = "downstream", mixinStandardHelpOptions = true,
        description = "Register, remove or list the downstreams a cluster pushes WAL to, through one node.",
        subcommands = {DownstreamCommand.Add.class, DownstreamCommand.Remove.class, DownstreamCommand.ListAll.class,
                CommandLine.HelpCommand.class})
class DownstreamCommand {
    /** A registration waits up to 5 s for a majority of the members. */
    private static final Duration TIMEOUT = Duration.ofSeconds(15);

    /** What every subcommand takes: the node to ask, and as whom. */
    abstract static class NodeOptions implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--node", required = true, paramLabel = "HOST:PORT",
                description = "A node's PostgreSQL-protocol address (any member).")
        String node;

        @Option(names = "--user", defaultValue = "walkeeper", paramLabel = "USER",
                description = "User for the node (default ${DEFAULT-VALUE}); password from WALKEEPER_PASSWORD.")
        String user;

        abstract String sql();

        @Override
        public Integer call() {
            String sql = sql();
            InetSocketAddress address = address();
            StatusClient.Result result;
            try (StatusClient client = StatusClient.connect(address, user,
                    System.getenv(ProposeCommand.NODE_PASSWORD_ENV), TIMEOUT)) {
                result = client.query(sql);
            } catch (IOException | StatusClient.StatusException e) {
                spec.commandLine().getErr().println("walkeeper downstream " + spec.name() + ": " + node + ": "
                        + e.getMessage());
                return 1;
            }
            print(spec.commandLine().getOut(), result);
            return 0;
        }

        /** The downstreams registered (after the change): one line each. */
        private static void print(PrintWriter out, StatusClient.Result result) {
            if (result.rows().isEmpty()) {
                out.println("no downstreams registered");
            }
            for (List<String> row : result.rows()) {
                out.printf("%s  timeline %s/%s  %s:%s  user %s%n", result.value(row, "name"),
                        result.value(row, "tenant_id"), result.value(row, "timeline_id"), result.value(row, "host"),
                        result.value(row, "port"), result.value(row, "user"));
            }
            out.flush();
        }

        private InetSocketAddress address() {
            return HostPort.parse(spec, "--node", node);
        }

        /** A value for the command's text: the node's parser takes no quote or comma inside one. */
        String literal(String option, String value) {
            if (value.isEmpty() || value.indexOf('\'') >= 0 || value.indexOf(',') >= 0) {
                throw new ParameterException(spec.commandLine(), option + " must be non-empty, without ' or ,");
            }
            return "'" + value + "'";
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Register a downstream: the timeline's pusher connects to it and pushes committed WAL.")
    static final class Add extends NodeOptions {
        @Parameters(index = "0", paramLabel = "NAME", description = "Its name: 1 to 63 letters, digits, _ . -")
        String name;

        @Option(names = "--timeline", required = true, paramLabel = "TENANT/TIMELINE",
                description = "The timeline pushed, as 32 hex digits each.")
        String timeline;

        @Option(names = "--to", required = true, paramLabel = "HOST:PORT",
                description = "The downstream's address (a `walkeeper receive` node).")
        String to;

        @Option(names = "--as", defaultValue = "walkeeper", paramLabel = "USER",
                description = "User the pusher connects as (default ${DEFAULT-VALUE}); its password comes from"
                        + " each node's walkeeper.push.passwords.")
        String as;

        @Override
        String sql() {
            String[] ids = timeline.split("/", -1);
            int colon = to.lastIndexOf(':');
            if (ids.length != 2 || colon <= 0) {
                throw new ParameterException(spec.commandLine(), "--timeline must be TENANT/TIMELINE and --to HOST:PORT");
            }
            return "ADD_DOWNSTREAM " + literal("NAME", name) + " (tenant_id " + literal("--timeline", ids[0])
                    + ", timeline_id " + literal("--timeline", ids[1]) + ", host "
                    + literal("--to", to.substring(0, colon)) + ", port " + literal("--to", to.substring(colon + 1))
                    + ", user " + literal("--as", as) + ")";
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
            description = "Remove a registered downstream: its pusher stops pushing to it.")
    static final class Remove extends NodeOptions {
        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Override
        String sql() {
            return "REMOVE_DOWNSTREAM " + literal("NAME", name);
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List the registered downstreams.")
    static final class ListAll extends NodeOptions {
        @Override
        String sql() {
            return "LIST_DOWNSTREAMS";
        }
    }
}
