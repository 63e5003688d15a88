package dev.walkeeper.protocol.pg;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads the {@code options} startup parameter, which is where clients put per-connection settings
 * — Neon's proposer sends {@code -c timeline_id=<hex> tenant_id=<hex>} there. Splitting follows
 * PostgreSQL's {@code pg_split_opts} so a value escaped for PostgreSQL means the same here.
 */
public final class StartupOptions {
    private StartupOptions() {}

    /**
     * Splits like {@code pg_split_opts}: tokens are separated by runs of unescaped whitespace
     * (space, \t, \n, \u000B, \f, \r — C's {@code isspace}); a backslash makes the next character
     * literal and is itself dropped ({@code a\ b} is one token {@code a b}, {@code \\} is one
     * backslash); a backslash at the very end is dropped.
     */
    public static List<String> split(String options) {
        List<String> tokens = new ArrayList<>();
        StringBuilder token = new StringBuilder();
        boolean inToken = false;
        boolean escaped = false;
        for (int i = 0; i < options.length(); i++) {
            char c = options.charAt(i);
            if (escaped) {
                token.append(c);
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
                inToken = true;
            } else if (isSpace(c)) {
                if (inToken) {
                    tokens.add(token.toString());
                    token.setLength(0);
                    inToken = false;
                }
            } else {
                token.append(c);
                inToken = true;
            }
        }
        if (inToken) {
            tokens.add(token.toString());
        }
        return tokens;
    }

    /** C's {@code isspace} in the C locale, which PostgreSQL's option and command scanners use. */
    static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\u000B' || c == '\f' || c == '\r';
    }

    /**
     * The {@code key=value} settings in {@code options} ({@code null}: none), in order, a later
     * key replacing an earlier one as PostgreSQL applies them in order. After {@link #split}, each
     * token is read by these rules:
     * <ul>
     *   <li>{@code -c} alone is skipped; the next token is then read by these same rules (so
     *       {@code -c a=1 b=2} yields both, as Neon's safekeeper reads it);
     *   <li>{@code -ckey=value} and {@code --key=value}: a setting; as in PostgreSQL, dashes in
     *       the key become underscores ({@code --work-mem=1} is {@code work_mem});
     *   <li>any other token starting with {@code -} (another postgres switch such as {@code -B})
     *       is ignored;
     *   <li>{@code key=value}: a setting, the key taken as written (Neon's convention);
     *   <li>a token without {@code =}, or with nothing before it, is ignored.
     * </ul>
     * The key is everything before the first {@code =}, the value everything after it (possibly
     * empty, possibly containing further {@code =}). Keys keep their case.
     */
    public static Map<String, String> settings(String options) {
        if (options == null) {
            return Map.of();
        }
        Map<String, String> settings = new LinkedHashMap<>();
        for (String token : split(options)) {
            boolean dashed = token.startsWith("--") || token.startsWith("-c");
            if (token.startsWith("-") && !dashed) {
                continue;
            }
            String setting = dashed ? token.substring(2) : token;
            int eq = setting.indexOf('=');
            if (eq <= 0) {
                continue;
            }
            String key = setting.substring(0, eq);
            settings.put(dashed ? key.replace('-', '_') : key, setting.substring(eq + 1));
        }
        return Collections.unmodifiableMap(settings);
    }
}
