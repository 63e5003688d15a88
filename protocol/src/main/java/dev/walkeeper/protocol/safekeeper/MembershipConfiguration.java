package dev.walkeeper.protocol.safekeeper;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The set of safekeepers a timeline lives on, versioned by {@code generation}. During a migration
 * the configuration is joint: {@code newMembers} is the set being moved to and quorums are needed
 * in both sets. An empty {@code newMembers} means not joint — the wire has no other marker.
 *
 * <p>The checks are those of Neon's parser, made invariants here so that an invalid configuration
 * can neither be received nor sent: a generation other than 0 needs members, and a node id
 * appears at most once within a set (it may appear in both sets).
 *
 * @param generation unsigned 32-bit; 0 is Neon's {@code INVALID_GENERATION}, used before
 *     generations are enabled, and only then may the sets be empty
 */
public record MembershipConfiguration(int generation, List<Member> members, List<Member> newMembers) {
    /** No generations: what a timeline has until a configuration is set, and all that v2 knew. */
    public static final MembershipConfiguration EMPTY = new MembershipConfiguration(0, List.of(), List.of());

    public MembershipConfiguration {
        members = List.copyOf(members);
        newMembers = List.copyOf(newMembers);
        if (generation != 0 && members.isEmpty()) {
            throw new IllegalArgumentException("generation " + Integer.toUnsignedString(generation)
                    + " has no members");
        }
        checkUnique(members, "members");
        checkUnique(newMembers, "new members");
    }

    private static void checkUnique(List<Member> set, String what) {
        Set<Long> ids = new HashSet<>();
        for (Member m : set) {
            if (!ids.add(m.nodeId())) {
                throw new IllegalArgumentException("node id " + Long.toUnsignedString(m.nodeId())
                        + " appears twice in " + what);
            }
        }
    }

    public boolean isJoint() {
        return !newMembers.isEmpty();
    }
}
