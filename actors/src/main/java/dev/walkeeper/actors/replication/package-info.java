/**
 * Push replication ({@code START_PUSH_REPLICATION}, replication-protocol.md "Push"): the node
 * holding the WAL connects to its downstream and pushes committed WAL; nobody dials back.
 *
 * <ul>
 *   <li>Pusher side: {@link dev.walkeeper.actors.replication.PushReplicator}, one per (timeline,
 *       downstream), reads committed WAL with {@code WalReader} and drives an
 *       {@link dev.walkeeper.actors.replication.OutboundConnection}, the client role of the
 *       PostgreSQL protocol over an outgoing socket (the same reader/writer children as a
 *       server-side connection, through {@code OutgoingTcpSocketFactory}).</li>
 *   <li>Downstream side: {@link dev.walkeeper.actors.replication.PushReceiverSession}, the pure
 *       logic a connection's {@code pushReceiving()} state calls, over
 *       {@link dev.walkeeper.actors.replication.PushReceivers}, the thread-safe registry of who
 *       pushes which timeline and of each timeline's {@code ReceivedWalWriter}.</li>
 * </ul>
 */
package dev.walkeeper.actors.replication;
