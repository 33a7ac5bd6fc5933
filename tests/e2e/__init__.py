"""End-to-end tests: a lab network started by the real ``gba`` command, driven over sockets."""
