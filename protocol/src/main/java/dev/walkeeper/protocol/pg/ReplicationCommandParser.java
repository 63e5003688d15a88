package dev.walkeeper.protocol.pg;

import dev.walkeeper.protocol.Lsn;
import dev.walkeeper.protocol.pg.ReplicationCommand.Empty;
import dev.walkeeper.protocol.pg.ReplicationCommand.IdentifySystem;
import dev.walkeeper.protocol.pg.ReplicationCommand.Show;
import dev.walkeeper.protocol.pg.ReplicationCommand.StartPushReplication;
import dev.walkeeper.protocol.pg.ReplicationCommand.StartReplication;
import dev.walkeeper.protocol.pg.ReplicationCommand.StartWalPush;
import dev.walkeeper.protocol.pg.ReplicationCommand.TimelineHistory;
import dev.walkeeper.protocol.pg.ReplicationCommand.TimelineStatus;
import dev.walkeeper.protocol.pg.ReplicationCommand.Unsupported;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;
import java.util.Locale;
import java.util.Map;

import static dev.walkeeper.protocol.pg.StartupOptions.isSpace;

/**
 * A hand-written recursive-descent reader for {@link ReplicationCommand#parse}: the grammar is a
 * handful of fixed shapes, so a cursor over the text is clearer than a generated parser.
 *
 * <p>A <em>word</em> is a run of characters that are neither whitespace nor one of
 * {@code ( ) , ; =}. Parenthesised option lists are read the way Neon's safekeeper reads
 * {@code START_WAL_PUSH}'s: the text between the first {@code (} and the last {@code )} is split
 * on commas, each part into a key (up to whitespace or {@code =}) and a value (the rest, after an
 * optional {@code =}, one pair of surrounding single quotes removed). Values therefore cannot
 * contain commas; no client needs that.
 */
final class ReplicationCommandParser {
    private static final Set<String> ADD_DOWNSTREAM_OPTIONS = Set.of("tenant_id", "timeline_id", "host", "port", "user");

    private final String text;
    private int position;

    private ReplicationCommandParser(String text) {
        this.text = text;
    }

    static ReplicationCommand parse(String sql) {
        String text = strip(sql);
        if (text.endsWith(";")) {
            text = strip(text.substring(0, text.length() - 1));
        }
        try {
            return new ReplicationCommandParser(text).command();
        } catch (IllegalArgumentException e) {
            // A record refused a value the grammar let through (timeline 0, a bad proto_version).
            throw new ProtocolException(SqlState.SYNTAX_ERROR, e.getMessage());
        }
    }

    /**
     * {@code s} as a non-negative decimal of at most {@code max}, or -1 when it is not one: plain
     * ASCII digits only (no sign, no spaces), checked before parsing so nothing can overflow.
     */
    static long unsignedDecimal(String s, long max) {
        if (s.isEmpty() || s.length() > 18 || !s.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return -1;
        }
        long value = Long.parseLong(s);
        return value <= max ? value : -1;
    }

    private ReplicationCommand command() {
        String first = word();
        String keyword = first.toUpperCase(Locale.ROOT);
        switch (keyword) {
            case "" -> {
                if (atEnd()) {
                    return new Empty();
                }
                return new Unsupported(text.substring(position, position + 1));
            }
            case "IDENTIFY_SYSTEM" -> {
                expectEnd();
                return new IdentifySystem();
            }
            case "TIMELINE_STATUS" -> {
                expectEnd();
                return new TimelineStatus();
            }
            case "CLUSTER_STATUS" -> {
                expectEnd();
                return new ReplicationCommand.ClusterStatus();
            }
            case "TIMELINE_STATE" -> {
                expectEnd();
                return new ReplicationCommand.TimelineState();
            }
            case "PULL_TIMELINE" -> {
                return pullTimeline();
            }
            case "TIMELINE_CONSUMERS" -> {
                expectEnd();
                return new ReplicationCommand.TimelineConsumers();
            }
            case "SHOW" -> {
                return show();
            }
            case "TIMELINE_HISTORY" -> {
                int timeline = timeline();
                expectEnd();
                return new TimelineHistory(timeline);
            }
            case "START_WAL_PUSH" -> {
                return new StartWalPush(options());
            }
            case "START_REPLICATION" -> {
                return startReplication();
            }
            case "START_PUSH_REPLICATION" -> {
                String tenant = word();
                String timeline = word();
                Lsn commitLsn = lsn();
                return new StartPushReplication(tenant, timeline, commitLsn, options());
            }
            case "ADD_DOWNSTREAM" -> {
                return addDownstream();
            }
            case "REMOVE_DOWNSTREAM" -> {
                String name = literal();
                expectEnd();
                return new ReplicationCommand.RemoveDownstream(name);
            }
            case "LIST_DOWNSTREAMS" -> {
                expectEnd();
                return new ReplicationCommand.ListDownstreams();
            }
            default -> {
                return new Unsupported(keyword);
            }
        }
    }

    /** {@code PULL_TIMELINE [(from 'HOST:PORT')]}: the only option names the donor. */
    private ReplicationCommand pullTimeline() {
        String from = null;
        for (Map.Entry<String, String> option : options().entrySet()) {
            if (!option.getKey().equals("from")) {
                throw new ProtocolException(SqlState.SYNTAX_ERROR,
                        "unrecognized PULL_TIMELINE option \"" + option.getKey() + "\"");
            }
            from = option.getValue();
            if (from.isEmpty()) {
                throw new ProtocolException(SqlState.SYNTAX_ERROR, "PULL_TIMELINE from must be HOST:PORT");
            }
        }
        return new ReplicationCommand.PullTimeline(from);
    }

    /** {@code SHOW name}, where a name is an identifier, possibly dotted ({@code neon.tenant_id}). */
    private Show show() {
        int start = skipSpaces();
        String name = word();
        if (name.isEmpty() || !name.chars().allMatch(c -> c == '_' || c == '.' || c == '$'
                || (c < 0x80 && Character.isLetterOrDigit(c)))) {
            throw syntaxErrorAt(start);
        }
        expectEnd();
        return new Show(name.toLowerCase(Locale.ROOT));
    }

    /** PostgreSQL's grammar: {@code START_REPLICATION [SLOT s] [PHYSICAL] X/Y [TIMELINE n]}, plus Neon's term. */
    private ReplicationCommand startReplication() {
        String slot = acceptKeyword("SLOT") ? identifier() : null;
        if (acceptKeyword("LOGICAL")) {
            return new Unsupported("START_REPLICATION LOGICAL");
        }
        boolean physical = acceptKeyword("PHYSICAL");
        Lsn start = lsn();
        Integer timeline = acceptKeyword("TIMELINE") ? timeline() : null;
        Long term = null;
        for (Map.Entry<String, String> option : options().entrySet()) {
            if (!option.getKey().equals("term")) {
                throw new ProtocolException(SqlState.SYNTAX_ERROR,
                        "unrecognized START_REPLICATION option \"" + option.getKey() + "\"");
            }
            long value = unsignedDecimal(option.getValue(), Long.MAX_VALUE);
            if (value < 0) {
                throw new ProtocolException(SqlState.SYNTAX_ERROR, "invalid term \"" + option.getValue() + "\"");
            }
            term = value;
        }
        return new StartReplication(slot, physical, start, timeline, term);
    }

    /**
     * {@code ADD_DOWNSTREAM 'name' (key 'value', ...)}: tenant_id, timeline_id, host and port are
     * required, user is optional; any other key (a password above all) is refused.
     */
    private ReplicationCommand addDownstream() {
        String name = literal();
        int at = skipSpaces();
        Map<String, String> options = options();
        if (options.isEmpty()) {
            throw syntaxErrorAt(at);
        }
        for (String key : options.keySet()) {
            if (key.equals("password")) {
                throw new ProtocolException(SqlState.SYNTAX_ERROR, "ADD_DOWNSTREAM takes no password: the"
                        + " registration is shared with every cluster member; configure the user's password in"
                        + " walkeeper.push.passwords on each node");
            }
            if (!ADD_DOWNSTREAM_OPTIONS.contains(key)) {
                throw new ProtocolException(SqlState.SYNTAX_ERROR, "unrecognized ADD_DOWNSTREAM option \"" + key + "\"");
            }
        }
        for (String required : List.of("tenant_id", "timeline_id", "host", "port")) {
            if (!options.containsKey(required)) {
                throw new ProtocolException(SqlState.SYNTAX_ERROR, "ADD_DOWNSTREAM needs the option " + required);
            }
        }
        long port = unsignedDecimal(options.get("port"), 65535);
        if (port < 1) {
            throw new ProtocolException(SqlState.SYNTAX_ERROR, "invalid port \"" + options.get("port") + "\"");
        }
        return new ReplicationCommand.AddDownstream(name, options.get("tenant_id"), options.get("timeline_id"),
                options.get("host"), (int) port, options.getOrDefault("user", ReplicationCommand.AddDownstream.DEFAULT_USER));
    }

    /** A name given as a single-quoted literal ({@code ''} for a quote) or as a bare word kept as written. */
    private String literal() {
        int start = skipSpaces();
        if (start < text.length() && text.charAt(start) == '\'') {
            StringBuilder value = new StringBuilder();
            for (int i = start + 1; i < text.length(); i++) {
                char c = text.charAt(i);
                if (c != '\'') {
                    value.append(c);
                } else if (i + 1 < text.length() && text.charAt(i + 1) == '\'') {
                    value.append('\'');
                    i++;
                } else {
                    position = i + 1;
                    return value.toString();
                }
            }
            throw new ProtocolException(SqlState.SYNTAX_ERROR, "unterminated quoted string");
        }
        String word = word();
        if (word.isEmpty()) {
            throw syntaxErrorAt(start);
        }
        return word;
    }

    /** A slot name: a word folded to lower case, or a double-quoted name kept as written. */
    private String identifier() {
        int start = skipSpaces();
        if (start < text.length() && text.charAt(start) == '"') {
            StringBuilder name = new StringBuilder();
            for (int i = start + 1; i < text.length(); i++) {
                char c = text.charAt(i);
                if (c != '"') {
                    name.append(c);
                } else if (i + 1 < text.length() && text.charAt(i + 1) == '"') {
                    name.append('"');
                    i++;
                } else {
                    position = i + 1;
                    if (name.isEmpty()) {
                        throw syntaxErrorAt(start);
                    }
                    return name.toString();
                }
            }
            throw new ProtocolException(SqlState.SYNTAX_ERROR, "unterminated quoted identifier");
        }
        String name = word();
        if (name.isEmpty()) {
            throw syntaxErrorAt(start);
        }
        return name.toLowerCase(Locale.ROOT);
    }

    private Lsn lsn() {
        int start = skipSpaces();
        try {
            return Lsn.parse(word());
        } catch (IllegalArgumentException e) {
            throw syntaxErrorAt(start);
        }
    }

    /** A timeline number as PostgreSQL's grammar takes it: unsigned decimal, validated later as > 0. */
    private int timeline() {
        int start = skipSpaces();
        long value = unsignedDecimal(word(), Integer.MAX_VALUE);
        if (value < 0) {
            throw syntaxErrorAt(start);
        }
        return (int) value;
    }

    /** An optional parenthesised option list, which must end the command. */
    private Map<String, String> options() {
        int open = skipSpaces();
        Map<String, String> options = new LinkedHashMap<>();
        if (atEnd()) {
            return options;
        }
        int close = text.lastIndexOf(')');
        if (text.charAt(open) != '(') {
            throw syntaxErrorAt(open);
        }
        if (close < open) {
            throw syntaxErrorAt(text.length());
        }
        for (String part : text.substring(open + 1, close).split(",", -1)) {
            option(strip(part), options);
        }
        position = close + 1;
        expectEnd();
        return options;
    }

    private static void option(String part, Map<String, String> into) {
        if (part.isEmpty()) {
            return;
        }
        int keyEnd = 0;
        while (keyEnd < part.length() && !isSpace(part.charAt(keyEnd)) && part.charAt(keyEnd) != '=') {
            keyEnd++;
        }
        String key = part.substring(0, keyEnd).toLowerCase(Locale.ROOT);
        String value = strip(part.substring(keyEnd));
        if (value.startsWith("=")) {
            value = strip(value.substring(1));
        }
        if (key.isEmpty() || value.isEmpty()) {
            throw new ProtocolException(SqlState.SYNTAX_ERROR, "syntax error at or near \"" + part + "\"");
        }
        if (value.length() >= 2 && value.startsWith("'") && value.endsWith("'")) {
            value = value.substring(1, value.length() - 1);
        }
        into.put(key, value);
    }

    /** If the next word is {@code keyword} (any case), consumes it. */
    private boolean acceptKeyword(String keyword) {
        int start = position;
        if (word().equalsIgnoreCase(keyword)) {
            return true;
        }
        position = start;
        return false;
    }

    /** The next word, or "" at the end or at a delimiter (which is not consumed). */
    private String word() {
        int start = skipSpaces();
        while (position < text.length() && !isSpace(text.charAt(position)) && !isDelimiter(text.charAt(position))) {
            position++;
        }
        return text.substring(start, position);
    }

    private void expectEnd() {
        int at = skipSpaces();
        if (!atEnd()) {
            throw syntaxErrorAt(at);
        }
    }

    private boolean atEnd() {
        return position >= text.length();
    }

    private int skipSpaces() {
        while (position < text.length() && isSpace(text.charAt(position))) {
            position++;
        }
        return position;
    }

    /** PostgreSQL's wording: the offending token, or "end of input". */
    private ProtocolException syntaxErrorAt(int at) {
        if (at >= text.length()) {
            return new ProtocolException(SqlState.SYNTAX_ERROR, "syntax error at end of input");
        }
        int end = at + 1;
        if (!isDelimiter(text.charAt(at))) {
            while (end < text.length() && !isSpace(text.charAt(end)) && !isDelimiter(text.charAt(end))) {
                end++;
            }
        }
        return new ProtocolException(SqlState.SYNTAX_ERROR,
                "syntax error at or near \"" + text.substring(at, end) + "\"");
    }

    private static String strip(String s) {
        int from = 0;
        int to = s.length();
        while (from < to && isSpace(s.charAt(from))) {
            from++;
        }
        while (to > from && isSpace(s.charAt(to - 1))) {
            to--;
        }
        return s.substring(from, to);
    }

    private static boolean isDelimiter(char c) {
        return "(),;=".indexOf(c) >= 0;
    }
}
