"""A lab network for engineers: HSS, BSF and NAF as separate background processes."""
