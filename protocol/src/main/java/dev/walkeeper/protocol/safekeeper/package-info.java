/**
 * The messages a walproposer and a safekeeper exchange inside CopyData once {@code START_WAL_PUSH}
 * has switched the connection to CopyBoth, in Neon's protocol version 3 (1-byte tag, big-endian
 * integers, ids as hex cstrings; see {@code safekeeper-protocol.md} §2). Pure codecs and value
 * types: what the messages mean is decided by the consensus core, not here.
 */
package dev.walkeeper.protocol.safekeeper;
