"""The only package that owns sockets, TLS and timers.

* :mod:`.diameter` - the asyncio Diameter node around the sans-IO peer machine.
* :mod:`.tls` - TLS contexts for Diameter (RFC 6733 §13) and the lab PKI.
* :mod:`.psk_tls`, :mod:`.psk_tls_io` - PSK-TLS (TS 33.222 §5.4) server and client.
"""
