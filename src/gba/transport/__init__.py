"""The only package that owns sockets, TLS and timers.

* :mod:`.diameter` - the asyncio Diameter node: peer table, routing, relaying;
  :mod:`.diameter_link` - one connection driven by the sans-IO peer machine.
* :mod:`.http` - aiohttp requests and responses to and from the sans-IO HTTP records.
* :mod:`.tls` - TLS contexts for Diameter (RFC 6733 §13) and the lab PKI.
* :mod:`.psk_tls`, :mod:`.psk_tls_attempt`, :mod:`.psk_tls_io`, :mod:`.psk_tls_context`,
  :mod:`.psk_tls_client` -
  PSK-TLS (TS 33.222 §5.4) server, connection I/O, OpenSSL contexts and client;
  :mod:`.psk_http` - HTTP/1.1 on a PSK-TLS connection through h11.
"""
