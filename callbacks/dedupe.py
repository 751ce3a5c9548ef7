"""The dedupe key that makes WeCom's retries and network duplicates land on one inbox row.

Why not the keys WeCom suggests (PROTOCOL §1.7):

- never the ciphertext: each retry is a fresh encryption with new random bytes;
- not FromUserName + CreateTime for events: distinct events share ``sys`` and the same
  second (several adds for one member differing only in ExternalUserID, batch changes);
- MsgId is WeCom's own, documented dedupe key for messages, so it is used when present.

Everything else is keyed on the decrypted plaintext, which retries repeat byte for byte.
"""

from __future__ import annotations

import hashlib
import re

from callbacks.parsing import Payload

_MSG_ID = re.compile(r"[0-9A-Za-z_-]{1,128}")


def dedupe_key(plaintext: bytes, payload: Payload) -> str:
    """Return ``msg:<MsgId>`` for messages, else ``sha256:<hex of the plaintext>``."""
    msg_id = payload.get("MsgId")
    if isinstance(msg_id, str) and _MSG_ID.fullmatch(msg_id.strip()):
        return f"msg:{msg_id.strip()}"
    return f"sha256:{hashlib.sha256(plaintext).hexdigest()}"
