"""The ``gba`` command line: thin wrappers over the library."""
