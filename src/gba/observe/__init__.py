"""What a running network function shows of itself: metrics, a status document and logs.

* :mod:`gba.observe.settings`: the TOML keys (``metrics_listen``, ``metrics_public``, the
  ``[logging]`` tables), read for any kind of function.
* :mod:`gba.observe.metrics`: one Prometheus registry per process (never the global
  default): requests by interface, command and result, latencies, and at scrape time
  bootstrapping contexts, Diameter peers and the NAF's key cache.
* :mod:`gba.observe.endpoint`: ``/metrics`` (text exposition) and ``/status.json``.
* :mod:`gba.observe.logs`: text or JSON lines carrying the interface, IMPI or B-TID, peer
  and result of an event, never key material.

Labels and fields are names and codes only: no key, RES, CK, IK or password reaches them,
and no IMPI or B-TID becomes a label (one series per subscriber would grow without bound).
"""
