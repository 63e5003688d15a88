package dev.walkeeper.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The data directory lock, within one JVM (where file locks do not report a second holder as null). */
class DataDirectoryTest {

    @TempDir
    Path root;

    @Test
    void opensAMissingDirectoryAndLocksIt() throws IOException {
        Path dir = root.resolve("a/b");
        try (DataDirectory d = DataDirectory.open(dir)) {
            assertEquals(dir.toAbsolutePath().normalize(), d.path());
            assertTrue(Files.isDirectory(dir));
            // Its own type, so that the node can tell "in use" from "cannot create".
            IOException e = assertThrows(DataDirectory.InUseException.class, () -> DataDirectory.open(dir).close());
            assertTrue(e.getMessage().contains("in use"), e.getMessage());
        }
    }

    @Test
    void aClosedDirectoryCanBeOpenedAgain() throws IOException {
        DataDirectory.open(root).close();
        // The same directory through another spelling of its path is still the same lock.
        try (DataDirectory d = DataDirectory.open(root.resolve("x/..").resolve("."))) {
            assertThrows(DataDirectory.InUseException.class, () -> DataDirectory.open(root).close());
        }
        DataDirectory.open(root).close();
    }
}
