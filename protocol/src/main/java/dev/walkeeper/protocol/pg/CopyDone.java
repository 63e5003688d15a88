package dev.walkeeper.protocol.pg;

/** CopyDone ('c'): flows in both directions. */
public record CopyDone() implements FrontendMessage, BackendMessage {}
