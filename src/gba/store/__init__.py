"""Storage: one interface (:mod:`gba.store.base`), two backends (SQLite default, Redis)."""
