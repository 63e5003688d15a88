/**
 * Durable state of a node: its data directory; WAL segment files and the journaled acceptor state
 * (Pekko Persistence with an fsyncing file journal, or JDBC) are built here on top of it.
 */
package dev.walkeeper.persistence;
