package dev.walkeeper.ops;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import java.io.File;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * {@code walkeeper receive}: a node that also accepts {@code START_PUSH_REPLICATION} — the
 * downstream end of push replication. Pushed WAL lands in PostgreSQL-named segments under
 * {@code --out}, ready for pg_waldump or a standby's restore_command.
 */
@Command(name = "receive", mixinStandardHelpOptions = true,
        description = "Run a node that accepts WAL pushed to it (START_PUSH_REPLICATION) and stores it as segment files.")
final class ReceiveCommand extends NodeCommand {

    @Option(names = "--out", paramLabel = "DIR",
            description = "Where pushed WAL is written, as DIR/<tenant>/<timeline>/ (default <data-dir>/received).")
    File out;

    @Override
    Config config() {
        // A downstream stores what is pushed to it and takes no part in the cluster.
        if (clusterListen != null || clusterAdvertise != null || seedNodes != null) {
            throw new ParameterException(spec.commandLine(), "walkeeper receive is no cluster member: "
                    + "--cluster-listen, --cluster-advertise and --seed-nodes do not apply");
        }
        Config receive = ConfigFactory.empty()
                .withValue("walkeeper.receive.enabled", ConfigValueFactory.fromAnyRef(true))
                .withValue("walkeeper.cluster.enabled", ConfigValueFactory.fromAnyRef(false));
        if (out != null) {
            receive = receive.withValue("walkeeper.receive.dir", ConfigValueFactory.fromAnyRef(out.getPath()));
        }
        return receive.withFallback(super.config());
    }
}
