package dev.walkeeper.protocol.safekeeper;

import java.util.HexFormat;
import java.util.Locale;

/**
 * A timeline's full identity: tenant and timeline, each 16 bytes written as 32 hex digits. Either
 * case is accepted (Neon's hex parser takes both); they are kept lower-case, as Neon prints them,
 * so equal ids are equal strings — in maps, paths and logs.
 */
public record TenantTimelineId(String tenantId, String timelineId) {
    private static final int HEX_LENGTH = 32;

    /** @throws IllegalArgumentException when an id is not 32 hex digits */
    public TenantTimelineId {
        tenantId = checkId("tenant_id", tenantId);
        timelineId = checkId("timeline_id", timelineId);
    }

    private static String checkId(String what, String hex) {
        if (hex.length() != HEX_LENGTH || !hex.chars().allMatch(HexFormat::isHexDigit)) {
            throw new IllegalArgumentException(what + " must be 32 hex digits, got \"" + hex + "\"");
        }
        return hex.toLowerCase(Locale.ROOT);
    }

    /** {@code tenant/timeline}, Neon's form in logs. */
    @Override
    public String toString() {
        return tenantId + "/" + timelineId;
    }
}
