package dev.walkeeper.ops;

import java.net.InetSocketAddress;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;

/** A command's {@code HOST:PORT} option, refused as a usage error when it is not one. */
final class HostPort {
    private HostPort() {
    }

    static InetSocketAddress parse(CommandSpec spec, String option, String value) {
        int colon = value.lastIndexOf(':');
        try {
            if (colon > 0) {
                int port = Integer.parseInt(value.substring(colon + 1));
                if (port > 0 && port <= 65535) {
                    return new InetSocketAddress(value.substring(0, colon), port);
                }
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new ParameterException(spec.commandLine(), option + " must be HOST:PORT, got " + value);
    }
}
