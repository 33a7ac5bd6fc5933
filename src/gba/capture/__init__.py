"""Recording what network functions send and receive: taps, sinks, pcapng (issue 11)."""
