"""A channel's code: WeCom's PNG (decodes to what WeCom issued), the poster, the SVG, the CLI."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import zxingcpp
from PIL import Image

from scrm.channels import qr
from scrm.channels.models import Channel
from tests.e2e.conftest import Stack
from tests.leads.flows import form_channel

ROOT = Path(__file__).resolve().parents[2]


def decode(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png))
    return [b.text for b in zxingcpp.read_barcodes(image.convert("L"))]


async def make_channel(stack: Stack) -> dict[str, Any]:
    stack.sandbox.state.add_staff("zhangsan")
    status, channel = await stack.api(
        "POST", "/api/v1/channels", json={"name": "春季展会 · 3号馆", "staff": ["zhangsan"]}
    )
    assert status == 201, channel
    return channel


async def test_the_png_is_wecoms_code_fetched_once(stack: Stack) -> None:
    channel = await make_channel(stack)
    path = f"/api/v1/channels/{channel['id']}/qrcode.png"
    status, png = await stack.api("GET", path)
    assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode(png) == [channel["qr_code"]]  # the sandbox's code encodes its own URL
    # Kept: with the way gone from WeCom's side the same image is still served.
    stack.sandbox.state.contact_ways.clear()
    assert await stack.api("GET", path) == (200, png)
    assert (await Channel.get(id=channel["id"])).qr_text == channel["qr_code"]


async def test_json_instead_of_an_image_is_502_with_the_errcode(stack: Stack) -> None:
    channel = await make_channel(stack)
    # An address that answers WeCom's JSON error envelope (41001: no access_token).
    await Channel.filter(id=channel["id"]).update(
        qr_code=stack.sandbox.url + "/cgi-bin/user/simplelist"
    )
    status, body = await stack.api("GET", f"/api/v1/channels/{channel['id']}/qrcode.png")
    assert status == 502 and "41001" in body["error"]["message"]
    assert (await Channel.get(id=channel["id"])).qr_png is None  # nothing kept


async def test_the_poster_carries_the_same_code(stack: Stack, tmp_path: Path) -> None:
    channel = await make_channel(stack)
    status, poster = await stack.api(
        "GET", f"/api/v1/channels/{channel['id']}/qrcode.png?poster=1&caption=扫码领取展会礼品"
    )
    assert status == 200
    image = Image.open(io.BytesIO(poster))
    assert image.size == (1080, 1500)
    assert decode(poster) == [channel["qr_code"]]
    out = os.environ.get("SCRM_TEST_POSTER_OUT")  # to look at it: a path to write it to
    if out:
        Path(out).write_bytes(poster)  # noqa: ASYNC240 - a debugging aid, off by default


async def test_the_svg_re_encodes_the_same_text(stack: Stack) -> None:
    channel = await make_channel(stack)
    status, svg = await stack.api("GET", f"/api/v1/channels/{channel['id']}/qrcode.svg")
    assert status == 200 and b"<svg" in svg[:200]
    assert (await Channel.get(id=channel["id"])).qr_text == channel["qr_code"]


async def test_the_default_channel_has_no_code(stack: Stack) -> None:
    _, listed = await stack.api("GET", "/api/v1/channels")
    default = listed["channels"][0]
    status, body = await stack.api("GET", f"/api/v1/channels/{default['id']}/qrcode.png")
    assert (status, body["error"]["code"]) == (404, "not_found")


async def run_cli(stack: Stack, *args: str, **extra_env: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "SCRM_DATABASE_URL": stack.settings.database_url,
        "SCRM_VAR_DIR": str(stack.settings.var_dir),
        "SCRM_WECOM_API_BASE": stack.sandbox.url,
        "SCRM_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    env.pop("SCRM_REDIS_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "run.py"),
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_cli_creates_lists_and_writes_codes(stack: Stack, tmp_path: Path) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    code, out, err = await run_cli(
        stack, "channels", "create", "--name", "门店", "--staff", "zhangsan", "--state", "store_1"
    )
    assert code == 0, err
    channel = await Channel.get(state="store_1")
    assert stack.sandbox.state.contact_ways[channel.config_id or ""]["state"] == "store_1"
    code, out, err = await run_cli(stack, "channels", "list")
    assert code == 0 and "store_1\t门店" in out, err
    png, poster = tmp_path / "code.png", tmp_path / "poster.png"
    code, _, err = await run_cli(stack, "channels", "qrcode", str(channel.id), "--out", str(png))
    assert code == 0, err
    assert decode(png.read_bytes()) == [channel.qr_code]
    code, _, err = await run_cli(
        stack, "channels", "qrcode", str(channel.id), "--out", str(poster), "--poster"
    )
    assert code == 0, err
    assert decode(poster.read_bytes()) == [channel.qr_code]
    code, _, err = await run_cli(stack, "channels", "create", "--name", "x", "--staff", "ghost")
    assert code == 1 and "40003" in err


async def test_the_cli_writes_a_form_channels_code_for_its_page(
    stack: Stack, tmp_path: Path
) -> None:
    """Like the API: a form channel's code opens {SCRM_PUBLIC_URL}/c/{state}, not WeCom's way."""
    channel = await form_channel(stack)
    page = f"https://scrm.example.com/c/{channel['state']}"
    png, poster, svg = tmp_path / "form.png", tmp_path / "poster.png", tmp_path / "form.svg"
    for out, flags in ((png, ()), (poster, ("--poster",)), (svg, ("--svg",))):
        code, _, err = await run_cli(
            stack,
            "channels",
            "qrcode",
            str(channel["id"]),
            "--out",
            str(out),
            *flags,
            SCRM_PUBLIC_URL="https://scrm.example.com",
        )
        assert code == 0, err
    assert decode(png.read_bytes()) == [page]
    assert decode(poster.read_bytes()) == [page]
    assert svg.read_bytes() == qr.code_svg(page)
    code, out, err = await run_cli(stack, "channels", "list")
    assert code == 0 and f"{channel['state']}\t展会表单\tzhangsan,lisi\tform" in out, err


async def test_the_cli_create_takes_json_alone_and_repeated_staff(stack: Stack) -> None:
    for userid in ("zhangsan", "lisi"):
        stack.sandbox.state.add_staff(userid)
    spec = json.dumps({"name": "广告", "staff": ["zhangsan"], "state": "ad_1"})
    code, _, err = await run_cli(stack, "channels", "create", "--json", spec)
    assert code == 0, err
    assert (await Channel.get(state="ad_1")).staff == ["zhangsan"]
    code, _, err = await run_cli(
        stack, "channels", "create", "--name", "柜台", "--staff", "zhangsan", "--staff", "lisi,",
        "--state", "counter_1",
    )  # fmt: skip
    assert code == 0, err
    assert (await Channel.get(state="counter_1")).staff == ["zhangsan", "lisi"]


async def test_the_cli_says_what_is_wrong_without_a_traceback(stack: Stack) -> None:
    stack.sandbox.state.add_staff("zhangsan")
    code, _, err = await run_cli(stack, "channels", "create", "--json", "{bad")
    assert code == 1 and "--json is not valid JSON" in err and "Traceback" not in err
    code, _, err = await run_cli(stack, "channels", "create", "--name", "x")
    assert code == 1 and "--name and --staff are required" in err and "Traceback" not in err
    channel = await make_channel(stack)
    code, _, err = await run_cli(
        stack, "channels", "qrcode", str(channel["id"]), "--out", "/nonexistent/dir/x.png"
    )
    assert code == 1 and "cannot write /nonexistent/dir/x.png" in err and "Traceback" not in err
