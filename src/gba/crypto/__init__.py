"""The cryptographic core: Milenage, AKA, the GBA KDF and HTTP Digest (AKA)."""
