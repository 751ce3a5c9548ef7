"""Email through SMTP (`aiosmtplib`): ticket notices for channels of kind ``email``.

Errors come back in the WeCom error ladder's terms because the effect ledger reads them:
`MailRefused` (a `WeComAPIError`) means the server answered and nothing was sent — errcode
-1 (retryable) when it could not be reached, the SMTP reply code when it refused. Any other
failure (a timeout mid-transfer) leaves the outcome unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.message import EmailMessage

import aiosmtplib

from adapters.wecom.errors import WeComAPIError


class MailRefused(WeComAPIError):
    """The SMTP server could not be reached (-1, retryable) or refused the mail (its code)."""


class Mailer:
    """Sends plain-text mail through one SMTP server."""

    def __init__(self, host: str, port: int, sender: str, *, timeout: float = 10.0) -> None:
        self.host, self.port, self.sender, self._timeout = host, port, sender, timeout

    def __repr__(self) -> str:
        return f"Mailer(host={self.host!r}, port={self.port})"

    async def send(self, to: Sequence[str], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(to), subject
        message.set_content(body)
        try:
            await aiosmtplib.send(
                message, hostname=self.host, port=self.port, timeout=self._timeout
            )
        except aiosmtplib.SMTPConnectError as exc:
            raise MailRefused(-1, f"SMTP server unreachable: {exc}") from None
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise MailRefused(550, f"recipients refused: {len(exc.recipients)}") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise MailRefused(exc.code, exc.message[:200]) from None
