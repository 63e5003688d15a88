package dev.walkeeper.ops;

import dev.walkeeper.protocol.Lsn;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code walkeeper status}: asks one node (CLUSTER_STATUS) for the cluster as it sees it — the
 * members and their status, and per timeline each member's term, flush and commit LSN as it last
 * published them, with its lag behind the highest commit LSN any member reports, whether it is the
 * timeline's pusher and the durable LSN each of its downstreams reported to it.
 */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Print the cluster's members and, per timeline, each member's positions, as one node sees them.")
class StatusCommand implements Callable<Integer> {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    @Spec
    CommandSpec spec;

    @Option(names = "--node", required = true, paramLabel = "HOST:PORT", description = "A node's PostgreSQL-protocol address.")
    String node;

    @Option(names = "--user", defaultValue = "walkeeper", paramLabel = "USER",
            description = "User for the node (default ${DEFAULT-VALUE}); password from WALKEEPER_PASSWORD.")
    String user;

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    /** One member's positions of one timeline, and of its downstreams. */
    record Row(String address, long nodeId, String status, boolean self, long term, long lastLogTerm, Lsn flush,
               Lsn commit, boolean pusher, List<Downstream> downstreams) {}

    /** A downstream ({@code host:port}) a member lists, and the durable LSN it reported to that member. */
    record Downstream(String address, String flushLsn) {
        /** From the node's {@code host:port=LSN,...}; null or empty: none. */
        static List<Downstream> parse(String text) {
            List<Downstream> out = new ArrayList<>();
            if (text != null) {
                for (String item : text.split(",")) {
                    int eq = item.lastIndexOf('=');
                    if (eq > 0) {
                        out.add(new Downstream(item.substring(0, eq), item.substring(eq + 1)));
                    }
                }
            }
            return out;
        }

        @Override
        public String toString() {
            return address + "=" + flushLsn;
        }
    }

    record Member(String address, long nodeId, String status, boolean self) {}

    @Override
    public Integer call() {
        InetSocketAddress address = address();
        StatusClient.Result result;
        try (StatusClient client = StatusClient.connect(address, user, System.getenv(ProposeCommand.NODE_PASSWORD_ENV),
                TIMEOUT)) {
            result = client.query("CLUSTER_STATUS");
        } catch (IOException | StatusClient.StatusException e) {
            spec.commandLine().getErr().println("walkeeper status: " + node + ": " + e.getMessage());
            return 1;
        }
        List<Member> members = new ArrayList<>();
        Map<String, List<Row>> timelines = new LinkedHashMap<>();
        for (List<String> r : result.rows()) {
            String memberAddress = result.value(r, "member");
            long nodeId = Long.parseLong(result.value(r, "node_id"));
            String status = result.value(r, "member_status");
            boolean self = "t".equals(result.value(r, "self"));
            if ("member".equals(result.value(r, "kind"))) {
                members.add(new Member(memberAddress, nodeId, status, self));
            } else {
                timelines.computeIfAbsent(result.value(r, "tenant_id") + "/" + result.value(r, "timeline_id"),
                        k -> new ArrayList<>()).add(new Row(memberAddress, nodeId, status, self,
                        Long.parseLong(result.value(r, "term")), Long.parseLong(result.value(r, "last_log_term")),
                        Lsn.parse(result.value(r, "flush_lsn")), Lsn.parse(result.value(r, "commit_lsn")),
                        "t".equals(optional(result, r, "pusher")),
                        Downstream.parse(optional(result, r, "downstream_flush_lsns"))));
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            printJson(out, members, timelines);
        } else {
            printText(out, members, timelines);
        }
        out.flush();
        return 0;
    }

    /** A column a node of an earlier version does not send: null there. */
    private static String optional(StatusClient.Result result, List<String> row, String column) {
        return result.columns().contains(column) ? result.value(row, column) : null;
    }

    /** How far {@code row}'s flush LSN is behind the highest commit LSN any member of the timeline reports. */
    private static long lag(Row row, List<Row> timeline) {
        long commit = timeline.stream().mapToLong(r -> r.commit().value()).max().orElse(0);
        return Math.max(0, commit - row.flush().value());
    }

    private void printText(PrintWriter out, List<Member> members, Map<String, List<Row>> timelines) {
        if (members.isEmpty()) {
            out.printf("%s is no cluster member%n", node);
            return;
        }
        out.printf("members, as %s sees them:%n", node);
        for (Member m : members) {
            out.printf("  node %-4d %-12s %s%s%n", m.nodeId(), m.status(), m.address(), m.self() ? "  (this node)" : "");
        }
        for (Map.Entry<String, List<Row>> timeline : timelines.entrySet()) {
            out.printf("timeline %s:%n", timeline.getKey());
            for (Row r : timeline.getValue()) {
                out.printf("  node %-4d term %-5d last log term %-5d flush %-12s commit %-12s lag %d%s%s%n", r.nodeId(),
                        r.term(), r.lastLogTerm(), r.flush(), r.commit(), lag(r, timeline.getValue()),
                        r.pusher() ? "  pusher" : "",
                        r.downstreams().isEmpty() ? "" : "  downstreams " + r.downstreams().stream()
                                .map(Downstream::toString).collect(Collectors.joining(",")));
            }
        }
    }

    private void printJson(PrintWriter out, List<Member> members, Map<String, List<Row>> timelines) {
        StringBuilder b = new StringBuilder("{\"node\":").append(quote(node)).append(",\"members\":[");
        for (int i = 0; i < members.size(); i++) {
            Member m = members.get(i);
            b.append(i == 0 ? "" : ",").append("{\"address\":").append(quote(m.address()))
                    .append(",\"node_id\":").append(m.nodeId()).append(",\"status\":").append(quote(m.status()))
                    .append(",\"self\":").append(m.self()).append('}');
        }
        b.append("],\"timelines\":[");
        boolean first = true;
        for (Map.Entry<String, List<Row>> timeline : timelines.entrySet()) {
            String[] ids = timeline.getKey().split("/");
            b.append(first ? "" : ",").append("{\"tenant_id\":").append(quote(ids[0])).append(",\"timeline_id\":")
                    .append(quote(ids[1])).append(",\"members\":[");
            first = false;
            List<Row> rows = timeline.getValue();
            for (int i = 0; i < rows.size(); i++) {
                Row r = rows.get(i);
                b.append(i == 0 ? "" : ",").append("{\"address\":").append(quote(r.address()))
                        .append(",\"node_id\":").append(r.nodeId()).append(",\"status\":").append(quote(r.status()))
                        .append(",\"term\":").append(r.term()).append(",\"last_log_term\":").append(r.lastLogTerm())
                        .append(",\"flush_lsn\":").append(quote(r.flush().toString()))
                        .append(",\"commit_lsn\":").append(quote(r.commit().toString()))
                        .append(",\"lag_bytes\":").append(lag(r, rows))
                        .append(",\"pusher\":").append(r.pusher())
                        .append(",\"downstreams\":[");
                for (int d = 0; d < r.downstreams().size(); d++) {
                    Downstream downstream = r.downstreams().get(d);
                    b.append(d == 0 ? "" : ",").append("{\"address\":").append(quote(downstream.address()))
                            .append(",\"flush_lsn\":").append(quote(downstream.flushLsn())).append('}');
                }
                b.append("]}");
            }
            b.append("]}");
        }
        out.println(b.append("]}"));
    }

    private static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    private InetSocketAddress address() {
        return parseAddress(spec, "--node", node);
    }

    /** HOST:PORT for an option, or a usage error naming it. */
    static InetSocketAddress parseAddress(CommandSpec spec, String option, String text) {
        int colon = text.lastIndexOf(':');
        try {
            if (colon > 0) {
                int port = Integer.parseInt(text.substring(colon + 1));
                if (port > 0 && port <= 65535) {
                    return new InetSocketAddress(text.substring(0, colon), port);
                }
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new ParameterException(spec.commandLine(), option + " must be HOST:PORT, got " + text);
    }
}
