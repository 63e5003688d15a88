package dev.walkeeper.ops;

import dev.walkeeper.ops.bench.BenchCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code walkeeper} program: one command, a subcommand per role. */
@Command(name = "walkeeper", mixinStandardHelpOptions = true, versionProvider = Version.class,
        description = "Quorum WAL service for PostgreSQL: WAL is pushed over the PostgreSQL wire protocol.",
        subcommands = {NodeCommand.class, ReceiveCommand.class, ProposeCommand.class, StatusCommand.class, DownstreamCommand.class, TimelineCommand.class, BenchCommand.class, CommandLine.HelpCommand.class})
public final class Main {

    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }
}
