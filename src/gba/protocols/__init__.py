"""Sans-IO protocol engines: bytes and events in, bytes and events out; no sockets, no clock."""
