/**
 * The messages carried inside CopyData during physical streaming replication (1-byte tag,
 * big-endian; PostgreSQL's "Streaming Replication Protocol" plus Neon's {@code 'z'} feedback and
 * walkeeper's {@code 'i'} start position), for both the pull ({@code START_REPLICATION}) and the
 * push ({@code START_PUSH_REPLICATION}) direction; see {@code replication-protocol.md}. Pure codecs
 * and value types: what to send when is decided by the connection that streams.
 */
package dev.walkeeper.protocol.replication;
