"""A channel's code as files: the PNG WeCom issued, a printable poster, and an SVG.

The PNG is WeCom's own image (fetched once through the adapter and kept on the channel). The
poster is rendered here with Pillow — the code, the channel name and a caption — in a CJK font
installed on the host (Debian ``fonts-wqy-microhei`` or ``fonts-noto-cjk``; no network at run
time). The SVG re-encodes what the code says (read from the PNG once, with zxing-cpp), for
print shops that scale it.
"""

from __future__ import annotations

import io
from pathlib import Path

import qrcode
import qrcode.image.svg
import zxingcpp
from PIL import Image, ImageDraw, ImageFont

# Where Debian and most distributions put a CJK font; the first one found is used.
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
POSTER_SIZE = (1080, 1500)
CODE_SIZE = 760
CAPTION_MAX = 60
DEFAULT_CAPTION = "微信扫码，添加企业微信"


class PosterUnavailable(RuntimeError):
    """No CJK font is installed, so the poster's text cannot be drawn."""


class NotAnImage(ValueError):
    """The bytes WeCom gave for a code are not an image with a readable QR code."""


def cjk_font_path(candidates: tuple[str, ...] = CJK_FONTS) -> Path:
    for candidate in candidates:
        path = Path(candidate)
        if path.is_file():
            return path
    raise PosterUnavailable(
        "no CJK font installed (apt-get install fonts-wqy-microhei, or fonts-noto-cjk)"
    )


def decode_code(png: bytes) -> str:
    """What the QR code in ``png`` says."""
    try:
        image = Image.open(io.BytesIO(png))
        image.load()
    except (OSError, ValueError) as exc:
        raise NotAnImage(f"not an image: {exc}") from None
    found = zxingcpp.read_barcodes(image.convert("L"))
    codes = [b.text for b in found if b.format == zxingcpp.BarcodeFormat.QRCode and b.valid]
    if not codes:
        raise NotAnImage("the image holds no readable QR code")
    return str(codes[0])


def code_svg(text: str) -> bytes:
    """``text`` as a QR code in SVG (paths, scalable), with the usual 4-module border."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=4)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue()


def code_png(text: str, box_size: int = 10) -> bytes:
    """``text`` as a QR code in PNG (a form channel's public URL), 4-module border."""
    image = qrcode.make(text, box_size=box_size, border=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def render_poster(png: bytes, title: str, caption: str | None = None) -> bytes:
    """A printable PNG: the title on top, WeCom's code in the middle, the caption below."""
    font_path = cjk_font_path()
    code = Image.open(io.BytesIO(png)).convert("RGB")
    code = code.resize((CODE_SIZE, CODE_SIZE), Image.Resampling.NEAREST)
    poster = Image.new("RGB", POSTER_SIZE, "white")
    draw = ImageDraw.Draw(poster)
    width = POSTER_SIZE[0]
    draw.rectangle((0, 0, width, 220), fill=(7, 193, 96))  # WeChat green band
    _centered(draw, _fit(draw, font_path, title, 76, width - 120), title, 110, "white", width)
    left, top = (width - CODE_SIZE) // 2, 300
    draw.rectangle(
        (left - 16, top - 16, left + CODE_SIZE + 16, top + CODE_SIZE + 16),
        outline=(220, 220, 220),
        width=4,
    )
    poster.paste(code, (left, top))
    text = (caption or DEFAULT_CAPTION)[:CAPTION_MAX]
    font = _fit(draw, font_path, text, 52, width - 120)
    _centered(draw, font, text, top + CODE_SIZE + 120, (51, 51, 51), width)
    out = io.BytesIO()
    poster.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _fit(
    draw: ImageDraw.ImageDraw, path: Path, text: str, size: int, room: int
) -> ImageFont.FreeTypeFont:
    """The largest font size ≤ ``size`` at which ``text`` fits in ``room`` pixels."""
    while True:
        font = ImageFont.truetype(str(path), size)
        if draw.textlength(text, font=font) <= room or size <= 20:
            return font
        size -= 4


def _centered(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont,
    text: str,
    middle: int,
    fill: str | tuple[int, int, int],
    width: int,
) -> None:
    draw.text((width // 2, middle), text, font=font, fill=fill, anchor="mm")
