"""Errors of the WeCom Finance SDK (会话内容存档), classified once so callers only ask `retryable`.

Codes and meanings come from the SDK header ``WeWorkFinanceSdk_C.h`` (PROTOCOL §5.7).
"""

from __future__ import annotations

SDK_ERRORS: dict[int, str] = {
    10000: "bad parameters",
    10001: "network error",
    10002: "data parse failure",
    10003: "system failure",
    10004: "key error on encryption",
    10005: "bad fileid",
    10006: "decrypt failed",
    10007: "no private key for this publickey_ver",
    10008: "failed to parse encrypt_key",
    10009: "IP not allowed",
    10010: "data expired",
    10011: "certificate error",
}

# Only transport/parse/system failures clear up on their own; everything else needs an operator.
RETRYABLE_CODES = frozenset({10001, 10002, 10003})


class FinanceSdkError(Exception):
    """A non-zero SDK return code (or errcode in GetChatData's JSON)."""

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        meaning = SDK_ERRORS.get(code, "unknown error")
        super().__init__(
            f"finance SDK error {code} ({meaning})" + (f": {detail}" if detail else "")
        )

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES


class FinanceKeyError(FinanceSdkError):
    """The RSA step failed in our own code; it carries the SDK code with the same meaning."""


class FinanceWorkerError(Exception):
    """The worker process could not answer; the call may be retried on a fresh worker."""

    retryable = True


class FinanceWorkerCrashed(FinanceWorkerError):
    """The worker process died during a call (segfault in the SDK, OOM kill, ...)."""

    def __init__(self, returncode: int | None, op: str) -> None:
        self.returncode = returncode
        self.op = op
        super().__init__(f"finance worker died during {op} (exit status {_describe(returncode)})")


class FinanceWorkerTimeout(FinanceWorkerError):
    """A call took longer than its timeout; the stuck worker was killed."""

    def __init__(self, op: str, timeout: float) -> None:
        self.op = op
        self.timeout = timeout
        super().__init__(f"finance worker did not answer {op} within {timeout:g}s; killed")


def _describe(returncode: int | None) -> str:
    if returncode is None:
        return "unknown"
    if returncode < 0:
        import signal

        try:
            return f"{returncode}, {signal.Signals(-returncode).name}"
        except ValueError:
            return str(returncode)
    return str(returncode)
