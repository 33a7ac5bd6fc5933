"""Sequence diagrams from captures and demo event logs (``gba trace``).

* :mod:`.pcap_read` - a pcapng (or classic pcap) file to :class:`~gba.capture.events.Segment`
  objects, TCP reassembled.
* :mod:`.assemble` - segments to :class:`~.model.TracedMessage` objects (HTTP, SIP,
  Diameter, TLS); :mod:`.summary` - the one-line, secret-free summary of each.
* :mod:`.render` - participants and the text, Mermaid and SVG renderers.
* :mod:`.load` - what ``gba trace`` reads: a capture or a demo event log, and lab.json names.
"""
