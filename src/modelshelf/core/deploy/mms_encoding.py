"""How a handler service's answers go out as Multi Model Server's worker sends them: bytes
raw, text as UTF-8, anything else as MMS's JSON (to the byte); and the request ids MMS's
frontend gives requests that bring none."""

from __future__ import annotations

import json
import json.encoder
import random
from typing import Any

JSON = "application/json"


def encode_value(value: Any) -> tuple[bytes, str]:
    """One answer's body as MMS's worker sends it, and its content type when the handler set
    none (MMS then sends none): bytes raw, str as UTF-8, anything else as JSON."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value), "application/octet-stream"
    if isinstance(value, str):
        return value.encode("utf-8"), "text/plain; charset=utf-8"
    return _indented_json(value).encode("utf-8"), JSON


def _indented_json(value: Any) -> str:
    """``json.dumps(value, indent=2)``, MMS's encoding, to the byte.

    With an indent the standard library falls back to its pure-Python encoder, several
    times slower than the C one; a flat list of numbers (a request's predictions, the usual
    answer) is the C encoder's compact text with each item on a line of its own instead.
    """
    if type(value) is list and value:
        # Items one per line, as indent=2 puts a flat list's: right when one "[" and no
        # string or object came out, i.e. the list held only numbers, true, false and null
        # (checked on the text, in C: checking each item's type in Python took as long as
        # the encoding).
        text = _flat_items(value)
        if text.count("[") == 1 and '"' not in text and "{" not in text:
            return "[\n  " + text[1:-1] + "\n]"
    return json.dumps(value, indent=2)


def _flat_items(value: list[Any]) -> str:
    """``value`` as JSON with ``",\n  "`` between items: the C encoder's own (json.dumps
    with that separator, a third slower through its argument handling) when there is one."""
    if _C_ITEMS is None:
        return json.dumps(value, separators=(",\n  ", ": "))
    return "".join(_C_ITEMS(value, 0))


# json.dumps(separators=(",\n  ", ": ")) without the call's setup: the encoder object its
# JSONEncoder would make (no indent, ASCII output, NaN allowed, keys unsorted).
def _c_items_encoder() -> Any:
    if json.encoder.c_make_encoder is None:
        return None
    encoding = json.encoder.encode_basestring_ascii
    default = json.JSONEncoder().default
    return json.encoder.c_make_encoder(
        None, default, encoding, None, ": ", ",\n  ", False, False, True
    )


_C_ITEMS = _c_items_encoder()


def new_request_id() -> str:
    """A random (version 4) UUID's text, as MMS's frontend gives a request with no id.

    A request id names a request in logs and is no secret, so it comes from the fast
    Mersenne Twister rather than a system call for ``os.urandom`` (``uuid.uuid4()``'s), and
    is formatted directly rather than through the UUID class: a third of the time.
    """
    n = _random_bits(128) & _VERSION_MASK | _VERSION_4
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The module's own generator: the random module reseeds it in a forked child, so two
# workers forked from one server never give the same ids.
_random_bits = random.getrandbits
# The version (4) and the RFC 4122 variant bits of a UUID as an integer.
_VERSION_MASK = ~(0xF000 << 64 | 0xC000 << 48)
_VERSION_4 = 0x4000 << 64 | 0x8000 << 48
