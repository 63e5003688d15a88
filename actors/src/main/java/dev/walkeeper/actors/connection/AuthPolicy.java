package dev.walkeeper.actors.connection;

import dev.walkeeper.protocol.auth.Md5Authentication;
import dev.walkeeper.protocol.auth.ScramVerifier;
import dev.walkeeper.protocol.pg.SqlState;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Locale;
import java.util.Map;

/**
 * Who may connect and how they prove it. Secure by default, easy by default: with no users
 * configured, clients on loopback are trusted and everyone else is refused (the node refuses to
 * listen on a non-loopback address in that case, see {@link #isOpen()}); with users configured,
 * each user authenticates by its own method, and unknown users get a SCRAM exchange that can only
 * fail — so probing for user names learns nothing, as with PostgreSQL.
 */
public final class AuthPolicy {

    public enum Method {
        TRUST("trust"), PASSWORD("password"), MD5("md5"), SCRAM_SHA_256("scram-sha-256");

        private final String configName;

        Method(String configName) {
            this.configName = configName;
        }

        public String configName() {
            return configName;
        }

        public static Method fromConfig(String name) {
            for (Method m : values()) {
                if (m.configName.equals(name.toLowerCase(Locale.ROOT))) {
                    return m;
                }
            }
            throw new IllegalArgumentException("unknown auth method '" + name
                    + "' (expected trust, password, md5 or scram-sha-256)");
        }
    }

    /** What a user's password is known as. */
    public sealed interface Credential {}

    /** A verifier as stored in pg_authid (SCRAM-SHA-256$...), usable by scram-sha-256 and password. */
    public record Scram(ScramVerifier verifier) implements Credential {}

    /** An md5 hash as stored in pg_authid ("md5" + 32 hex), usable by md5 and password. */
    public record Md5(String verifier) implements Credential {}

    public record User(String name, Method method, Credential credential) {
        public User {
            if (method == Method.SCRAM_SHA_256 && !(credential instanceof Scram)) {
                throw new IllegalArgumentException("user '" + name + "': scram-sha-256 needs a SCRAM verifier or a password");
            }
            if (method == Method.MD5 && !(credential instanceof Md5)) {
                throw new IllegalArgumentException("user '" + name + "': md5 needs an md5 verifier or a password");
            }
            if ((method == Method.PASSWORD) && credential == null) {
                throw new IllegalArgumentException("user '" + name + "': password needs a verifier or a password");
            }
        }

        /** Builds the credential a method needs from a cleartext password in the configuration. */
        public static User withPassword(String name, Method method, String password) {
            Credential credential = switch (method) {
                case MD5 -> new Md5(Md5Authentication.verifier(name, password));
                case TRUST -> null;
                default -> new Scram(ScramVerifier.generate(password));
            };
            return new User(name, method, credential);
        }

        /** Reads a stored verifier in either of PostgreSQL's formats. */
        public static User withVerifier(String name, Method method, String verifier) {
            Credential credential = verifier.startsWith("md5")
                    ? new Md5(verifier) : new Scram(ScramVerifier.parse(verifier));
            return new User(name, method, credential);
        }

        /** For the cleartext {@code password} method: does this password match the credential? */
        public boolean acceptsCleartext(String password) {
            if (credential instanceof Scram s) {
                return s.verifier().verifiesPassword(password);
            }
            if (credential instanceof Md5 m) {
                return MessageDigest.isEqual(m.verifier().getBytes(StandardCharsets.US_ASCII),
                        Md5Authentication.verifier(name, password).getBytes(StandardCharsets.US_ASCII));
            }
            return false;
        }
    }

    /** The outcome of looking a client up before any credential is exchanged. */
    public sealed interface Decision {}

    public record Trusted() implements Decision {}

    public record Refused(SqlState sqlState, String message) implements Decision {}

    /** Run {@code method}'s exchange; {@code user} is null for an unknown user (the exchange fails). */
    public record Challenge(Method method, User user) implements Decision {}

    private final Map<String, User> users;

    public AuthPolicy(Map<String, User> users) {
        this.users = Map.copyOf(users);
    }

    public static AuthPolicy loopbackTrustOnly() {
        return new AuthPolicy(Map.of());
    }

    /** True when no users are configured: only loopback clients get in, without a password. */
    public boolean isOpen() {
        return users.isEmpty();
    }

    public Decision decide(String userName, InetAddress client) {
        if (isOpen()) {
            return client.isLoopbackAddress()
                    ? new Trusted()
                    : new Refused(SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
                            "no authentication is configured: only loopback clients are accepted (host "
                                    + client.getHostAddress() + ", user \"" + userName + "\")");
        }
        User user = users.get(userName);
        if (user == null) {
            return new Challenge(Method.SCRAM_SHA_256, null);
        }
        return user.method() == Method.TRUST ? new Trusted() : new Challenge(user.method(), user);
    }
}
