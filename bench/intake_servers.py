"""The two reference servers bench/intake.py measures scrm against, one process each.

python bench/intake_servers.py bare PORT
    (a) aiohttp answering 200 to every POST: the ceiling of the HTTP stack alone.
python bench/intake_servers.py wechatpy PORT   (token, AES key, corp id on stdin, one a line)
    (b) verify, decrypt and parse with wechatpy, store nothing: the limit of this stack
    before persistence.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from aiohttp import web


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def bare_app() -> web.Application:
    """(a): read the body (as any intake must), answer 200 with an empty body."""

    async def receive(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/wecom/callback", receive)
    app.router.add_get("/healthz", healthz)
    return app


def wechatpy_app(token: str, aes_key: str, corp_id: str) -> web.Application:
    """(b): what a wechatpy intake does before it would store anything."""
    from wechatpy.exceptions import InvalidSignatureException
    from wechatpy.work import parse_message
    from wechatpy.work.crypto import WeChatCrypto

    crypto = WeChatCrypto(token, aes_key, corp_id)

    async def receive(request: web.Request) -> web.Response:
        query = request.query
        body = await request.read()
        try:
            plaintext = crypto.decrypt_message(
                body, query["msg_signature"], query["timestamp"], query["nonce"]
            )
        except InvalidSignatureException:
            return web.Response(status=403)
        parse_message(plaintext)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/wecom/callback", receive)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(app: web.Application, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str]) -> int:
    kind, port = argv[0], int(argv[1])
    if kind == "bare":
        app = bare_app()
    elif kind == "wechatpy":
        token, aes_key, corp_id = (sys.stdin.readline().strip() for _ in range(3))
        app = wechatpy_app(token, aes_key, corp_id)
    else:
        print(f"unknown server {kind!r}", file=sys.stderr)
        return 2
    asyncio.run(serve(app, port))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
