package dev.walkeeper.persistence;

/**
 * Marks journaled events and snapshots for Jackson CBOR serialization (bound to
 * {@code jackson-cbor} in {@code reference.conf}). An explicit marker keeps Java serialization
 * out of the journal, and CBOR keeps records compact while still tolerating added fields.
 */
public interface CborSerializable {
}
