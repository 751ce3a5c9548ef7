"""The finance worker process: loads the SDK and answers framed requests on stdin/stdout.

Run by `FinanceWorkerClient` as ``python -m archive.pull.sdk_child``; never imported by the
service. If the SDK segfaults, only this process dies. Requests are handled one at a time.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import os
import sys
from typing import Any, BinaryIO

from archive.pull.errors import FinanceSdkError
from archive.pull.sdk import FinanceSdk
from archive.pull.wire import Frame, encode_frame, read_frame_sync


class _Worker:
    def __init__(self) -> None:
        self.sdk: FinanceSdk | None = None

    def handle(self, request: Frame) -> Frame:
        try:
            return {"ok": True, "result": self._dispatch(request)}
        except FinanceSdkError as exc:
            return {"ok": False, "kind": "sdk", "code": exc.code, "detail": exc.detail}
        except Exception as exc:  # report, keep serving: only a crash should end the worker
            return {"ok": False, "kind": "internal", "detail": f"{type(exc).__name__}: {exc}"}

    def _dispatch(self, request: Frame) -> Any:
        op = request.get("op")
        if op == "init":
            if self.sdk is not None:
                self.sdk.close()
            self.sdk = FinanceSdk(
                request["library"],
                request["corp_id"],
                request["secret"],
                proxy=request.get("proxy", ""),
                proxy_password=request.get("proxy_password", ""),
            )
            return None
        if op == "decrypt":  # DecryptData needs no SDK instance, but we insist on init anyway
            return self._sdk().decrypt(request["random_key"], request["encrypt_chat_msg"])
        if op == "get_chat_data":
            items = self._sdk().get_chat_data(request["seq"], request["limit"], request["timeout"])
            return [dataclasses.asdict(item) for item in items]
        raise ValueError(f"unknown op {op!r}")

    def _sdk(self) -> FinanceSdk:
        if self.sdk is None:
            raise FinanceSdkError(10000, "worker not initialised")
        return self.sdk

    def close(self) -> None:
        if self.sdk is not None:
            self.sdk.close()


def _claim_stdout() -> BinaryIO:
    """Keep the real stdout for frames; point fd 1 at stderr so SDK chatter cannot corrupt them."""
    protocol = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def main() -> int:
    faulthandler.enable()  # a segfault in the SDK leaves a Python traceback on stderr
    out = _claim_stdout()
    worker = _Worker()
    try:
        while (request := read_frame_sync(sys.stdin.buffer)) is not None:
            out.write(encode_frame(worker.handle(request)))
            out.flush()
    finally:
        worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
