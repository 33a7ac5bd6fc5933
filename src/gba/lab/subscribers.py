"""The subscriber every demo and benchmark provisions: K and OPc of TS 35.208 test set 1
(also in tests/vectors/ts35208/milenage.json), so outside tools can reproduce its vectors."""

from __future__ import annotations

DEMO_K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
DEMO_OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
