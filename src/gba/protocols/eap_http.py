"""EAP over HTTP authentication headers, as this project binds it (docs/roaming.md §1 D):
no standard HTTP binding of EAP was found (PANA, RFC 5191, is the IETF's EAP transport).

The server's 401 carries ``WWW-Authenticate: EAP realm="<fqdn>", session="<id>",
eap="<base64 EAP packet>"``; the client answers on the same URI with ``Authorization:
EAP session="<id>", eap="<base64 EAP-Response>"``, its request body unchanged. The final
200 carries ``Authentication-Info: EAP eap="<base64 EAP-Success>"``, a refusal the
EAP-Failure in ``WWW-Authenticate``. Parameters follow RFC 9110 §11.2's grammar.
"""

from __future__ import annotations

import base64
import binascii

from gba.errors import CodecError
from gba.protocols.digest_header import build_params, parse_params

SCHEME = "EAP"


def eap_header(**params: str) -> str:
    """``EAP k="v", ...`` (the parameter grammar of RFC 9110 §11.2)."""
    return f"{SCHEME} " + build_params([(k, v, True) for k, v in params.items()])


def parse_eap_header(value: str) -> dict[str, str]:
    """The parameters of an ``EAP`` challenge or credentials; CodecError otherwise."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.upper() != SCHEME:
        raise CodecError(f"not an {SCHEME} header")
    return parse_params(rest)


def eap_of(params: dict[str, str]) -> bytes:
    try:
        return base64.b64decode(params.get("eap", ""), validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("eap parameter is not base64") from None
