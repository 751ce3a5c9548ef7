"""Callback crypto test vectors, copied verbatim from PROTOCOL §2.1 (official) and §2.2 (own).

``raw_padded`` is an independent AES decoder (no framing logic) so tests can assert the
random prefix and pad byte that a vector really carries.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


@dataclass(frozen=True)
class Vector:
    name: str
    token: str
    encoding_aes_key: str
    aes_key_hex: str
    receive_id: str
    msg_signature: str
    timestamp: str
    nonce: str
    encrypt: str
    plaintext: bytes
    random_prefix: bytes
    pad: int
    is_url_check: bool = False


KEY_A = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
KEY_A_HEX = "eaa91d32babaf274ca76ece72583b5037ed6da8120a64314be4b6d453a2a854b"
KEY_B = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
KEY_B_HEX = "8d69989bbaabe67328014c194631ad0719b3dca035b64023df292447aab60760"
KEY_C = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
KEY_C_HEX = "916c4f115d94103cb15a998f74a0b71787603c398ebdf297d471a71140d2d5a4"

A1 = Vector(
    name="official_A1_verify_url",
    token="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    encoding_aes_key=KEY_A,
    aes_key_hex=KEY_A_HEX,
    receive_id="ww1436e0e65a779aee",
    msg_signature="012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
    timestamp="1476416373",
    nonce="47744683",
    encrypt="fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
    plaintext=b"1288432023552776189",
    random_prefix=b"8908d0ff052afda0",
    pad=7,
    is_url_check=True,
)

A2 = Vector(
    name="official_A2_decrypt_xml",
    token="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    encoding_aes_key=KEY_A,
    aes_key_hex=KEY_A_HEX,
    receive_id="ww1436e0e65a779aee",
    msg_signature="0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
    timestamp="1476422779",
    nonce="1597212914",
    encrypt=(
        "Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGz"
        "BhzTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3J"
        "WcoD4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQH"
        "E7wy24qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYu"
        "PDGOCI8jmnKiypE+"
    ),
    plaintext=(
        "<xml><ToUserName>ww1436e0e65a779aee</ToUserName><FromUserName>ChenJiaShun</FromUserName>"
        "<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>你好</Content>"
        "<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
    ).encode(),
    random_prefix=b"694ce5a83ae07fe3",
    pad=22,
)

B1 = Vector(
    name="official_B1_verify_url",
    token="QDG6eK",
    encoding_aes_key=KEY_B,
    aes_key_hex=KEY_B_HEX,
    receive_id="wx5823bf96d3bd56c7",
    msg_signature="5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
    timestamp="1409659589",
    nonce="263014780",
    # URL-decoded form of the query value in B1_ECHOSTR_ON_THE_WIRE.
    encrypt="P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
    plaintext=b"1616140317555161061",
    random_prefix=b"",  # not listed in PROTOCOL
    pad=0,
    is_url_check=True,
)
B1_ECHOSTR_ON_THE_WIRE = (
    "P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ"
    "%3D%3D"
)

B2 = Vector(
    name="official_B2_decrypt_xml",
    token="QDG6eK",
    encoding_aes_key=KEY_B,
    aes_key_hex=KEY_B_HEX,
    receive_id="wx5823bf96d3bd56c7",
    msg_signature="477715d11cdb4164915debcba66cb864d751f3e6",
    timestamp="1409659813",
    nonce="1372623149",
    encrypt=(
        "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3Qczc"
        "dCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLj"
        "vd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMn"
        "vw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k"
        "22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2Yoy"
        "yH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
    ),
    # 284 bytes with embedded newlines; field values as listed in PROTOCOL §2.1 B2.
    plaintext=(
        b"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n"
        b"<FromUserName><![CDATA[mycreate]]></FromUserName>\n"
        b"<CreateTime>1409659813</CreateTime>\n"
        b"<MsgType><![CDATA[text]]></MsgType>\n"
        b"<Content><![CDATA[hello]]></Content>\n"
        b"<MsgId>4561255354251345929</MsgId>\n"
        b"<AgentID>218</AgentID>\n"
        b"</xml>"
    ),
    random_prefix=b"0960688932c47ef1",
    pad=30,
)

B3 = Vector(
    name="official_B3_decrypt_json",
    token="QDG6eK",
    encoding_aes_key=KEY_B,
    aes_key_hex=KEY_B_HEX,
    receive_id="wx5823bf96d3bd56c7",
    msg_signature="0623cbc5a8cbee5bcc137c70de99575366fc2af3",
    timestamp="1409659813",
    nonce="1372623149",
    encrypt=(
        "CZWs4CWRpI4VolQlvn4dlEC1alN2MUEY2VklGehgBVLBrlVF7SyT+SV+Toj43l4ayJ9UMGKphktKKmP7B2j/P1ey"
        "67XB8PBgS7Wr5/8+w/yWriZv3Vmoo/MH3/1HsIWZrPQ3N2mJrelStIfI2Y8kLKXA7EhfZgZX4o+ffdkZDM76SEl7"
        "9Ib9mw7TGjZ9Aw/x/A2VjNbV1E8BtEbRxYYcQippYNw7hr8sFfa3nW1xLdxokt8QkRX83vK3DFP2F6TQFPL2Tu98"
        "UwhcUpPvdJBuu1/yiOQIScppV3eOuLWEsko="
    ),
    plaintext=(
        b'{"ToUserName":"wx5823bf96d3bd56c7","FromUserName":"mycreate","CreateTime": 1409659813,'
        b'"MsgType":"text","Content":"hello","MsgId":4561255354251345929,"AgentID": 218}'
    ),
    random_prefix=b"EDH75AiKExevY8L3",
    pad=22,
)

C1 = Vector(
    name="wechatpy_C1_verify_url",
    token="123456",
    encoding_aes_key=KEY_C,
    aes_key_hex=KEY_C_HEX,
    receive_id="wx49f0ab532d5d035a",
    msg_signature="dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
    timestamp="1411443780",
    nonce="437374425",
    encrypt="4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==",
    plaintext=b"5927782489442352469",
    random_prefix=b"",
    pad=0,
    is_url_check=True,
)
C1_WRONG_NONCE = "437374424"

C2 = Vector(
    name="wechatpy_C2_decrypt",
    token="123456",
    encoding_aes_key=KEY_C,
    aes_key_hex=KEY_C_HEX,
    receive_id="wx49f0ab532d5d035a",
    msg_signature="74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    timestamp="1411525903",
    nonce="461056294",
    encrypt=(
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHC"
        "rsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpX"
        "aG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQi"
        "MS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQi"
        "pvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
    ),
    # Text message from "messense", Content "test" (PROTOCOL §2.1 C2); exact bytes as decrypted.
    plaintext=(
        b"<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n"
        b"<FromUserName><![CDATA[messense]]></FromUserName>\n"
        b"<CreateTime>1411525903</CreateTime>\n"
        b"<MsgType><![CDATA[text]]></MsgType>\n"
        b"<Content><![CDATA[test]]></Content>\n"
        b"<MsgId>4363689963896700987</MsgId>\n"
        b"<AgentID>1</AgentID>\n"
        b"</xml>"
    ),
    random_prefix=b"",
    pad=1,
)

C3 = Vector(
    name="wechatpy_C3_encrypt",
    token="123456",
    encoding_aes_key=KEY_C,
    aes_key_hex=KEY_C_HEX,
    receive_id="wx49f0ab532d5d035a",
    msg_signature="407518b7649e86ef23978113f92d27afa9296533",
    timestamp="1411525903",
    nonce="461056294",
    encrypt=(
        "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNc"
        "BqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY"
        "0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsV"
        "bwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAG"
        "VRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
    ),
    plaintext=(
        b"<xml>\n"
        b"<MsgType><![CDATA[text]]></MsgType>\n"
        b"<Content><![CDATA[test]]></Content>\n"
        b"<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n"
        b"<ToUserName><![CDATA[messense]]></ToUserName>\n"
        b"<AgentID>1</AgentID>\n"
        b"<CreateTime>1411525903</CreateTime>\n"
        b"</xml>"
    ),
    random_prefix=b"1234567890123456",
    pad=0,
)

OWN1 = Vector(
    name="own1_add_external_contact",
    token="TokenV1abc",
    encoding_aes_key="ABEiM0RVZneImaq7zN3uAwARIjNEVWZ3iJmqu8zd7v8",
    aes_key_hex="00112233445566778899aabbccddee0300112233445566778899aabbccddeeff",
    receive_id="ww0000000000000001",
    msg_signature="93f20389f349b326d06ea8068cf61d8dfe7c5ed4",
    timestamp="1700000000",
    nonce="1111111111",
    encrypt=(
        "WABhmVLD5zE4rC8NWsTj1ijBEtQ7edVG6fBk45P9dxbCvZ6UUwgK+tVlqYy1Jj4gTdzVNUoR+tfKVMfS7tDoa0Eq"
        "42u4lR4Ie9WVbFaLXlXYvNFnVQJo/+axVam/m6SJAp+vbnwal/m8zflGkqq8/wVheKNG9AxU03roA3Q6KAHtg6Et"
        "qs3J+eyn9JaWvE1h4iSU2uJLujbfZl5eZhK+pF3V/+u5mx4tlIvxlwxYwXthG5cRHCqJDuLPMN0hKGazX3IhO0Do"
        "3Ceh/XxNDGj6aRcw+ERRhBKrfCSO1aSkhreFsOP2gFxdadkhN9zamwH9FdGFnEC9GpKXNmmflxCdVandFgPGvvWT"
        "wQGHoft1J/IFj2+HHKU2x/5GIWt5kF8/I1Wu82VFfPmMmyDHThWMjMtEnEX8LisHVXIq2RlW8x2hLXEM8wncQsZa"
        "aQCYXI+MoK7aO8JEJQeFJTt67qSBGvKQim22A5yaHy6scdu6jw4XzmNG5vZ6GqNxe/j3/nGdBy8yLjxaVSA+Y8uV"
        "hQGqj/EasPfL6bxslk7Y/0gJpA/Z0M7FnhPMWN9ibxwHX1rI3RlK02sn5d3J+MpASEtbFKz9BWLhjZiPQBe3OSY7"
        "zLo2DvZJeJW1x/eSv2wvni1mfDgCXtjIJDf6NxNsdFT7Jdc3KrGkxBGy7GAGoMZdZj5h7NwZ/uh2ZcOEu4V1Sgo7"
        "Xik0vJbB3mWS75xNOBwzwA=="
    ),
    plaintext=(
        b"<xml><ToUserName><![CDATA[ww0000000000000001]]></ToUserName>"
        b"<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000000</CreateTime>"
        b"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[change_external_contact]]></Event>"
        b"<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        b"<UserID><![CDATA[zhangsan]]></UserID>"
        b"<ExternalUserID><![CDATA[wmAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA]]></ExternalUserID>"
        b"<State><![CDATA[ch_001]]></State><WelcomeCode><![CDATA[WELCOMECODE001]]></WelcomeCode>"
        b"</xml>"
    ),
    random_prefix=b"aaaaaaaaaaaaaaaa",
    pad=18,
)

OWN2 = Vector(
    name="own2_full_pad_block",
    token="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    encoding_aes_key=KEY_A,
    aes_key_hex=KEY_A_HEX,
    receive_id="ww1436e0e65a779aee",
    msg_signature="4021308ba046681937614ad8f64d01c967a41df7",
    timestamp="1700000123",
    nonce="987654321",
    encrypt=(
        "scEag1243Fmy/fYz4Ux8D8n3TZ7YEIDT0Kemrp+zejFYUa6ZaaJ301RKYRkFrlSspkapGOR5Ic8i+iC87MxrHfwH"
        "Wx0Eg3x9q3OBCBaS28WMuXiLb4AIHTinCKGbjltn"
    ),
    plaintext=b"12345678901234567890123456",
    random_prefix=b"0123456789abcdef",
    pad=32,
)

OWN3 = Vector(
    name="own3_utf8_text_message",
    token="QDG6eK",
    encoding_aes_key=KEY_B,
    aes_key_hex=KEY_B_HEX,
    receive_id="wx5823bf96d3bd56c7",
    msg_signature="d648d146be3702884b6288c7c299262719d64e3e",
    timestamp="1700000456",
    nonce="42",
    encrypt=(
        "o78FN2H2t3O3ttdDXMpRQpr566Z6PGwmnIgR3yDgGMOMsw8uwnXy9S+gphGihketkzEChMN3vJ/xxazwfT8muSl/"
        "ftvYdN3oEDI4fw5pG/5Hs2ys0xxo1Axi3xf1MmtmQfMrHxDJdFvAY3NF+F6JYMlAxsmNoHPd0HOLSiJ3JYlTMQX0"
        "CWBcW7Vp1doedlLtsmo09z0SfEWCd3Ijl2ghCxwcriA3PFHX4vGQCtM5yBcjhe4iZt0pzqeFTojZvlXS77P30X/H"
        "sy2vdEawsgQWPue4eja6GN7V5pRIoKLDEWYYchk6tKXGnHk0mZg078joaCVFL5fxXKaf6XDdNCl4kw+klqQwYY8e"
        "jfaS5tcRiS3R15NjCXRhV9FaykolnP6kwqNhm736K2maXKWJazppcZvFbg1vSFjoZmK1A71BJlgwgR9ONxcRvOuz"
        "UEs+WttEB8Zud+7PY54eYHDWwB6b7Q=="
    ),
    plaintext=(
        "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
        "<FromUserName><![CDATA[lisi]]></FromUserName><CreateTime>1700000456</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好，企业微信 🙂]]></Content>"
        "<MsgId>7300000000000000001</MsgId><AgentID>1000002</AgentID></xml>"
    ).encode(),
    random_prefix=b"ZZZZZZZZZZZZZZZZ",
    pad=16,
)

OWN4 = Vector(
    name="own4_msgaudit_notify_pad_1",
    token="tok_msgaudit",
    encoding_aes_key="R6Jx2zq1kQ9pW0sV4bN8mC3dT7yF5hL2gK1jZ0xV9cA",
    aes_key_hex="47a271db3ab5910f695b4b15e1b37c982ddd4fbc85e612f680ad63674c55f5c0",
    receive_id="wwabcdefabcdefab01",
    msg_signature="1fcc7d9bc11144db728ba8a4d29ee6ab9a8a1b50",
    timestamp="1700000789",
    nonce="nonce_audit",
    encrypt=(
        "5neqDYIDVnQZhBaLF/xjOZ9A1vuKTcI7RUDeOS0hPkUHX8lk7SjvPRXBKf0KzkcxdqYbR05fS5VMcyfVVCVF7EUZ"
        "bA6OjDLak8R26/ggkuBtVEBQozA0vURHgfx7MOoPMH9Oj/YwX+heu2IS/T4nc0BVg33YVOqXuE5dsNWIvBj1swP5"
        "92xAMSF0GYeBQcnsYHbAQDLGwHxJKuPmVhPhWo5cjpQZWfgdQ9O6L1RXbYpDUETSNjglQ7RANOrShBLO82v9cx/R"
        "tDBk5nvsau0lsv6Dd7XFbVFDr5bgKIfm+pMQGsEwz5Ndlu/IqL9Fgq9ECtkuc6yfJpQTCVdoxjikdiZmKZpZ/n1N"
        "fQaoWbv0qHTRc384/Xw4eXpSO2JzznRC"
    ),
    plaintext=(
        b"<xml><ToUserName><![CDATA[wwabcdefabcdefab01]]></ToUserName>"
        b"<FromUserName><![CDATA[sys]]></FromUserName><CreateTime>1700000789</CreateTime>"
        b"<MsgType><![CDATA[event]]></MsgType><AgentID>2000004</AgentID>"
        b"<Event><![CDATA[msgaudit_notify]]></Event></xml>"
    ),
    random_prefix=b"1234567890123456",
    pad=1,
)

OWN5 = Vector(
    name="own5_json_change_external_chat",
    token="jsonTok",
    encoding_aes_key=KEY_C,
    aes_key_hex=KEY_C_HEX,
    receive_id="wx49f0ab532d5d035a",
    msg_signature="020564bd7ff0d42d4f871a8bff985e5037b8c14f",
    timestamp="1700001000",
    nonce="555",
    encrypt=(
        "5bIopUZWZbDeWtQiENVcBwgNkLpF5oFoNt3JfF5UWFLvmd2fyEV+Ij5D+6ATld4RS2VlAvOKSxwZEhUGZjE7G94f"
        "jpZDu/J41HTp5EacMHWPd9DSsYX2PWDGVyL9JNia8LJD5WUcHCI/rdwpvLIN9/+JkTuF+C/Q/QKZaa99uTkqAygS"
        "06RKy/RcTquPi+t92kWu7R9mQ3gZzjx7sSWEiseNcJbMGXZUxKMhEraW/4w1S5TLn1Uf5DuJJRzxEOAqhehjm26X"
        "N3uw+IN7Y4GaIUoUAS4xc0LRoY7mYs/KT+qy3cPmXj2Ur4lZ7V0h4Wl2RJdslzCrfseDI7xFT7GXNBkU2md1QBES"
        "jeoYwbPnj7dKW14iwwv9Q8DfYwUaoTN1/82/5POYV5rXuasULOOWRK+mDgoQHKIcOh4c6rGs/BY="
    ),
    plaintext=(
        b'{"ToUserName":"wx49f0ab532d5d035a","FromUserName":"sys","CreateTime":1700001000,'
        b'"MsgType":"event","Event":"change_external_chat",'
        b'"ChatId":"wrAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ChangeType":"update",'
        b'"UpdateDetail":"add_member","JoinScene":3,"MemChangeCnt":1}'
    ),
    random_prefix=b"QwErTyUiOpAsDfGh",
    pad=28,
)

# Reply wrapper signatures from PROTOCOL §2.2 (same as the POST signature of those vectors).
OFFICIAL = [A1, A2, B1, B2, B3, C1, C2]
OWN = [OWN1, OWN2, OWN3, OWN4, OWN5]
DECRYPTABLE = [*OFFICIAL, C3, *OWN]
DETERMINISTIC = [C3, *OWN]  # fixed random prefix: encrypt() must reproduce Encrypt exactly


def raw_padded(vector: Vector) -> bytes:
    """Decrypt with plain AES-256-CBC, IV = key[:16], no unpadding or framing checks."""
    key = bytes.fromhex(vector.aes_key_hex)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    return decryptor.update(base64.b64decode(vector.encrypt)) + decryptor.finalize()
