"""Network functions: thin asyncio services around :mod:`gba.protocols`."""
