/**
 * Durable state of a node: its data directory, and in {@code journal} the Pekko Persistence plugins
 * that journal the acceptor state (an fsyncing file journal and snapshot store, or PostgreSQL
 * through pekko-persistence-jdbc). WAL segment files are built here on top of it next.
 */
package dev.walkeeper.persistence;
