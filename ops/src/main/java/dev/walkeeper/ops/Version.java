package dev.walkeeper.ops;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/**
 * The version and the git commit the build wrote into walkeeper-version.properties
 * ("-dirty" with uncommitted changes; "dev" and "unknown" when run from unfiltered classes).
 */
final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() {
        Properties build = new Properties();
        try (InputStream in = Version.class.getResourceAsStream("/walkeeper-version.properties")) {
            if (in != null) {
                build.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new String[] {"walkeeper " + build.getProperty("version", "dev")
                + " (commit " + build.getProperty("commit", "unknown") + ")"};
    }
}
