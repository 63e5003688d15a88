package dev.walkeeper.protocol.pg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class StartupOptionsTest {

    @Test
    void neonProposerOptions() {
        String options = "-c timeline_id=de200bd42b49cc1814412c7e592dd6e9 tenant_id=9ef87a5bf0d92544f6fafeeb3239695c";
        assertEquals(List.of("-c", "timeline_id=de200bd42b49cc1814412c7e592dd6e9",
                "tenant_id=9ef87a5bf0d92544f6fafeeb3239695c"), StartupOptions.split(options));
        assertEquals(Map.of("timeline_id", "de200bd42b49cc1814412c7e592dd6e9",
                "tenant_id", "9ef87a5bf0d92544f6fafeeb3239695c"), StartupOptions.settings(options));
    }

    @Test
    void splitsOnRunsOfAnyCWhitespace() {
        assertEquals(List.of("a", "b", "c", "d"), StartupOptions.split(" \t a \n\rb\u000Bc\fd  "));
        assertEquals(List.of(), StartupOptions.split(" \t "));
        assertEquals(List.of(), StartupOptions.split(""));
    }

    @Test
    void backslashEscapesTheNextCharacterAndIsRemoved() {
        assertEquals(List.of("a b", "c"), StartupOptions.split("a\\ b c"));
        assertEquals(List.of("a\\b"), StartupOptions.split("a\\\\b"));
        assertEquals(List.of("ab"), StartupOptions.split("\\a\\b"));
        // A trailing lone backslash is dropped; alone it still makes a (empty) token, as in PostgreSQL.
        assertEquals(List.of("a"), StartupOptions.split("a\\"));
        assertEquals(List.of("a", ""), StartupOptions.split("a \\"));
        assertEquals(List.of(" "), StartupOptions.split("\\ "));
    }

    @Test
    void allSettingForms() {
        Map<String, String> settings = StartupOptions.settings(
                "-c a=1 -cb=2 --c=3 d=4 -c e=x=y --work-mem=64kB -c application_name=my\\ app");
        assertEquals(Map.of("a", "1", "b", "2", "c", "3", "d", "4", "e", "x=y", "work_mem", "64kB",
                "application_name", "my app"), settings);
        assertEquals(List.of("a", "b", "c", "d", "e", "work_mem", "application_name"), List.copyOf(settings.keySet()));
    }

    @Test
    void ignoresOtherSwitchesAndTokensWithoutAKey() {
        assertEquals(Map.of("k", ""), StartupOptions.settings("-B 100 -d 5 -c --c - plain =v k= -x=1"));
    }

    @Test
    void bareKeysKeepTheirDashes() {
        assertEquals(Map.of("my-key", "v"), StartupOptions.settings("my-key=v"));
    }

    @Test
    void laterSettingsWin() {
        assertEquals(Map.of("tenant_id", "b"), StartupOptions.settings("-c tenant_id=a --tenant-id=b"));
    }

    @Test
    void noOptionsNoSettings() {
        assertEquals(Map.of(), StartupOptions.settings(null));
        assertEquals(Map.of(), StartupOptions.settings(""));
    }
}
