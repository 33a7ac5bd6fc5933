"""Interop tests: outside tools (curl, openssl) against our services over real sockets."""
