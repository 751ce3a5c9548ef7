"""Rule hits and alert/ticket events keep which keywords matched, no longer where (issue 9).

Hand-written data migration; the models are unchanged, so MODELS_STATE is migration 4's
(the lead reconciles it with the migrations merged alongside). `rule_hits.keywords` and the
`keywords` of stored `alert.raised` / `ticket.requested` payloads go from
``[{"keyword", "start", "end"}, …]`` to the sorted, unique keyword strings. Positions are
not restored by a downgrade: they were the leak.
"""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True

UPGRADE = {
    "sqlite": """
        UPDATE "rule_hits" SET "keywords" = (
            SELECT json_group_array(k) FROM (
                SELECT DISTINCT json_extract(j.value, '$.keyword') AS k
                FROM json_each("rule_hits"."keywords") j ORDER BY k))
            WHERE "keywords" LIKE '[{%';
        UPDATE "events" SET "payload" = json_set("payload", '$.keywords', json((
            SELECT json_group_array(k) FROM (
                SELECT DISTINCT json_extract(j.value, '$.keyword') AS k
                FROM json_each("events"."payload", '$.keywords') j ORDER BY k))))
            WHERE "name" IN ('alert.raised', 'ticket.requested')
            AND "payload" LIKE '%"keywords":[{%';""",
    "postgres": """
        UPDATE "rule_hits" SET "keywords" = (
            SELECT COALESCE(json_agg(k ORDER BY k COLLATE "C"), '[]'::json)::text FROM (
                SELECT DISTINCT e->>'keyword' AS k
                FROM json_array_elements("rule_hits"."keywords"::json) e) s)
            WHERE "keywords" LIKE '[{%';
        UPDATE "events" SET "payload" = jsonb_set("payload"::jsonb, '{keywords}', (
            SELECT COALESCE(jsonb_agg(k ORDER BY k COLLATE "C"), '[]'::jsonb) FROM (
                SELECT DISTINCT e->>'keyword' AS k
                FROM jsonb_array_elements("events"."payload"::jsonb->'keywords') e) s))::text
            WHERE "name" IN ('alert.raised', 'ticket.requested')
            AND "payload" LIKE '%"keywords":[{%';""",
}

DOWNGRADE = {
    "sqlite": """
        SELECT 1;""",
    "postgres": """
        SELECT 1;""",
}


async def upgrade(db: BaseDBAsyncClient) -> str:
    return UPGRADE[db.capabilities.dialect]


async def downgrade(db: BaseDBAsyncClient) -> str:
    return DOWNGRADE[db.capabilities.dialect]


MODELS_STATE = (
    "eJztXW1T27gW/isavizMhA6E8tL2U8rSLXcpdIDe3Z2y4wpbSXzjWKksk2Z2+9/vkfwS27"
    "GNFZzgGM10CrHPkc0jRef96J+tMbWI4706pWxyiwdbb9E/Wy4eE/gle6uDtvBkMr8hLnB8"
    "70haE4gMjgfyKr73OMMmhxt97HgELlnEM5k94TZ1BXnPRcTlhE2Y7REEfGj7zn/d39uH/8"
    "k+vvOPTvaO7/zj+2Oyg7CHHOxxxAi2UJ/RMRoQbkRPNBzb46/EYy1qwnNtd7CyJ/iu/d0n"
    "Bqdwe0gYPOfr33DZdi3yg3jRx8nI6NvEsVJg2pYYQF43+Gwir723B+cu/yBpxfvfwyMdf+"
    "zO6SczPqRuzGC7XFwdEJcwzIl4Ame+wNf1HSeciwjy4GXnJMFbJngs0se+I2ZJcAcvML+2"
    "ZRiXV7fGzdmtYWwtzGDEkYA8vGRSV8w+vKonARiIV9h90+0eHBx39w6OTg5fHx8fnuydAK"
    "1838Vbxz+Dl5mjFQwlMTv/7fzyVrwQhSUWLD5x4afkwRwHXHIy5uiLWcybgdMhZvn4zzky"
    "cwB/XHYOIsSbOwlj/MNwiDvgQ/h49LoE3//2rk8/9q63j17vpEG+DO905S0B9xxe+VMB3I"
    "i+HmijC3Ns57tOC8AdMOpPFFdvkkeDXBlk1XWc5tJAVwCaMoswNVEYszwuDesCeK8F0nCO"
    "OWhrROCziDqlDsFuPuwJrgzw98C2KuTjKytAvwzIq6sLMfLY8747AbIZWC+/fHp/dr29L9"
    "c6ENm8AG1/YglMDMwXAf/gUFywytNsGcT7gm8Dd5MSxH+9+vL+4gx9vj47Pb85v7qU6M9C"
    "9IObaaSvz3oXALXQsPujhJYnLtxjczTFzDIW7tAuLaJdvDXujrNXsIsHEjfxB4o/J7KKfI"
    "/TsbQBFi2m6F6n1GQKqRRMph9g0LjYQYAyB2Jh0hze4y4YM92DY2nG/EFOwXqRxkzAf08s"
    "ZBfYR08bThtDjd7+i42haN4N3yNMTa/MYdXmUQvMo62ttUC73z2pgC1QFYIr76XRxQ+w0H"
    "NUymJ85xytQ/hwv1sBYaAqRFjeSyMs4VnA92aMHadwy454WqOzH3SPj+JtWnwo25hvPvUu"
    "LhZVQ/izc62fcijnXBrMpJ7twrPVxFeCZalvfiiUmqJdr1puSQe4qvBKMbVuf12JBNMWY1"
    "MsxvmcMOJg8e5ejqUSsn74/TokysE/NAU/UMeh0yTdZs7H/Gq4Df5ch3FdFJFM3O5UMbFV"
    "IpMyVkhdhNG2x3G/30HRKDsoWhTvQsN4RMjEEwwemhCG+nKyY6oco7vmwXNM8K/xyg2QkF"
    "Gsv7VhvgmG+fNHKVuu0Ai4VPWZJE/r1JmXHkjbWJg3wyTfX+12XYcVGUnL3I23TPRlGNcH"
    "aivE4IJOvjgjObYQZcQeuL+TmZySc3h37Jp5a7rt2jdcZngaK3DZxQi/BNFbuev2bk57v5"
    "5t/XyeQNnZA5GvvaDFBzdK9XciSCoq7lcuAeXYJPYDsZBkfIW+WcTyJ8QYkdk3NMYjEka0"
    "fvGAFJCHz9i1ENA4tgmrAj4il+7SyaLqXv/wOn7W4P2pTE2fz7qKipPmal3UbCWOsaYFzl"
    "oGr0d9ZioBPOdoob15UCV0dlAcOTtYCJxN8MyhOGezviU/CrbqBEsrIC6B9PbsT7n3xjlX"
    "EZTbn3p/7qS8uxdXl79F5AnoTy+u3mfzC03TZ6zAmV6aZZhmXEqfb1p86FmyDSMtSTWcke"
    "HT8Yx64xn+U0MZH0GXdQi79ttkSK00jJExP3NsoEUDtdgYCgIARiowVSWeIQMNaEzG93EU"
    "AZACUyQKPbxCZzApVhxaADOFETQiEw7kDA1tIGOzvGhGXUPfuXfuN5FlaEjLCnaAb8j2EJ"
    "hF6JQRWGW39pgg2pdXXDIlHg9sMARwOTaxOsij8Fh4CEBAHQteR96/c134yRCF/6bMFiaY"
    "YGfizTlB2wELwpaFcJ/DdYwAd2RRQUhFQZgnhILJd4rjLWYi2zNMi9PxlgZJpmJDTj3/se"
    "60x+dWEFbspRbfMj9H7JQYGDHHGoMAsIGC4rGeUMD+URU77qjYjDvKgszIGLORCshzjtZF"
    "WlZiJyffTAHmDFvrsO4eVlnLQFWItby3uGWouSQiBp3R9/iGDIqOMcU5fsvyyGGCrUV2cR"
    "3hQzohbIk6igybXrqVlu4SXp0kV4uW7ppdOiIBXR37JJfG/mnYgxXsqWkfWb727TH1++tT"
    "Lgi1xb7A2ppajTWvd50Mv1Lncaq+I0qPVnVDZRh17lNduU9JX+ITc5+SRegbNhVVs54yy1"
    "A16ymVF/zE4EimJKElgK80OhLGk3qck/EkN0MsQ9Epi44MA1rY/yVxxejIH0PM0RBGhfmy"
    "3iIqkrzoVNZbwDyYvqATcQeMmO92ZMxCmG6YUxbkdk2ox3fHlMFDvcUISf3D66SxBm/snZ"
    "JYg+uLINniDBTCP2dok3jt7r8+fn1ycPQ6Bj++Uob5opoI4o8toSam2bSaWEVN7Nuu7Q3V"
    "sc7wabCrgE19blK1rMcESwujkvUHzAhjNGcnLs7Jixna4ENZd0IeaDbqtTW+LqupvazGr6"
    "OippVJYJ1sNY3fxEKaBPTFtlI4MY/bSVE+YBUbiaIxmLdowqhJPGGYBMlVaYNmW17roPAB"
    "Ox1kOtgeEwvdz9CUshFhuRZSvYPnZmiRqNIoZF/Iz/qayDtxQQxEVqTQXP7WBlUjDapoLh"
    "UUpQRLCxWlN1UUpTfFitKb3FyMDUjfmhDXEjBtqDqa9FhV9A0kWVoTZ6rNNZDdwRe1nmKb"
    "NYdX261V7FaHmiMw9X2X244S4lnGJeHeHCurlsid0H5AyxkRpZyADFsbzNn1pASoegzSXG"
    "3Aed1uA50GsLbNJMhaUbVmklzaS1OXlyY2VZ/op4mba2zYJFR10SRX3/Jx/7D+LGfhq9dF"
    "JqLULcF8pdH/a98hH+3csH90q1Pmx2JAZAxtpe4wwILGmJtDUaQo3Etj4nnwekHgHT5HCS"
    "Vv0YjMppRZXkeE4G1ZuthBok5I/hJGXAq6xNT+GFEe+UUulsAZJp7QiUZNtJAMqyAZAbTs"
    "BwI/40cHZZAwsof41DbFmN/6NlDIQssPAjQ0HRJXVljyISPekDoWmuKoDhKbQxhuRvhbSQ"
    "LIIw80dnF4BKjuJc43OVHBF3XsDYJfsscILPrjElw5Zw7AQNyGNaN9c830zSVmTyXoEzNp"
    "fWLp9FmJomrfnBRTC12j+3t7Vbx2e3vFbjtxL410vJtVRTlmaCPCq6i7bOJBNYuot+mkmr"
    "VXxDfMy7Hygnh5lIcxgj9PKaySZmvj/lF7WCXSEZV0kAST1kGW1kEiq0bFY5rkacX6XrfD"
    "VFpzOau97IjPmGeNB3w+D+Q1nu8ZmucqizvBotf2EmvblE2glIMBaTYdDGj4kaq3eCBcf1"
    "s5LsHoVqfMJShOahCWbOXOaKHMkR67d6Kbs8hYF7fj7mPSl/efm6tLcRiquND7fI6waZIJ"
    "lwehou2pDavK58i2dvI6pK3iEboGqNF6UEkNUMPaGbfNIzP/dqkI5zRXK7Bet3wmrgBCVf"
    "tMcK1R/4y2nY3VP7UytLbMCJ2E8hL0zh4zh/YD6fmWzc9czmZ5GugiUakuigNyAwt6g7jy"
    "NJBqeqmIIUs2JNhm79D/fI/bfXGCiCgXF2XhfdvhhAXNdIlrspnUFbdBG5yhMZ6h7z7lBM"
    "EEchgiRy9dzSO0XrqheqlHvqvBHzLU4yJ9MROQTPlXkidajlQX2bC15qXqFhtZMUMrNP9V"
    "B7AYddQyC0L6FoK7gkogU7XF8JxDA1wBYN1cYQ3dyD14X0NmBS7iXHKaZpqtTdHX2grbLM"
    "Kx7eR1KrNdzGZF7q2YKetlmfHAJtkwWMvUL+Gb6iTcLLBS359f9q7/yndvRfSiz9aAyYG2"
    "3v91e9bLHuTFyIMxxN5QZetIMbVw86hfu1BFWIP7CLgN9LB8JDht+xfRdKr7V4YR/aPOld"
    "shQR7MghP0lhBZ8bPQFSLb9FlI1KN6MpMerFyfuCZBQSs2L0yi71M2WnSp1DlwzY6Ul+JF"
    "eaKcbap/5Lm3pWfxkGhJ0GpJABNpu49IgjlNJUlgCnIpCSr62cWOLchFA1ZZlUVd2IW9wA"
    "UuR0PwT9yZYMZlgPgdCroVoOnQho0+2NhhJvPFQZ2D55ZWxaxh2UzyIfoMuiZtbMWyJTuH"
    "1echy6mlzdLSJvXFUZA6WT4tfSoYeVGlq4KimmRp0zKvzTMkRE2Bf6LMN5Ri096hjoJ3qG"
    "n6FDFHExrU7hcrVDFRRY0qoq9+1rA9cEGDmXNGh/YGKo/UziKVKJZfaJsySRSYyw4d7CAa"
    "KEcWzj93eEWPKdey5IvgmdasmiTEK2hWSj7bJFMLxXn9TSKtvOMkSw5FzT1Gsg3Q7lfLaC"
    "5JaM5Ce0+tHGyLM5kj+laAq2uMGol9O3I9P4tt3rQnuFRhSlJV0pgmcwaVIiRQZYQSjrb7"
    "NvM4OkFS9+6IgiCYEbCggjOCoj4/HeRx3AfthiFG6RjZFrrzu/tvuogRkzKroA5pFU95PF"
    "LxVVT2CtKAy4i6/WiFqXEKUzhR1eEPGdpkka+7W0/8pVACPsWm4VeCv4GCKASrVAxFNklF"
    "IRTXm1erN4DlNPnFQ2Pq8uFbZHMPiV1CSA0hBqjoJEddZ4amTIQlrHfo8svFBVwygVWUBt"
    "BdbwhEFskRPisYX1caNPgLViZinrcC9nknYMV2+IiMcuVIMbhzjva1xqq/EXi4NRkFWlKx"
    "kz3DuKSbvWGNsp4hB1MKD4Pkdc4qsc9TXPpsgSpnC2hHyLqgjpQa5VNM03x6WW+G0wk2uA"
    "CAQk0/pKim5wfEClr+vQNTuyunF8lDQND2ya4QQOjjp95p1hEUGJmgtXPyg+er9U8dsIr7"
    "KD6tRDuQmq7dF5xHUzYBRWfRaC/GY9OgnUjaiRSJDbh66jOPsjLZMieqJl6A3jDnDJXyaR"
    "3MBsTjyCOeB5d3w8FExQOaDqkHIkMcjCB6n1k+g0fOIvfP9ufrq9ur06sLdOfv7eHjw1fd"
    "nMYVK3qGLrjQBRcvcBfTrY5eqiUCV69JeaejOU11ccGIQp+jHhI8ssclGSM+xFycJeNY8s"
    "CZe4IsEnUdmhGOtsmrwSt0fSND2UhkXYuUvrHtiaK73NabNY+uYw6N3smaKkxezATog1HW"
    "dzDKxL93bBO2KuMh7wT04jqKLF+bFKbaiinCdncGw65Fx/kBn+IkzHzuVqzsdadkRlCaIL"
    "0N2CSWmYYkr56EZSYh/+zjkqOXnnTscdPgTu/m3cPDCrs5UBXu5vJethugPDk0p69P4Uae"
    "ZFnfHr63IRu4C7uCEUKkatDm8GqrVoeNnx3qZjkQrmXsYKvYexASdKq4DoJAhEIcMzzUNj"
    "iJdjqkDkF/kFM6Do7RiLsVd4JyQNFRweZD0XGBe6lGDPlBzVpH116DRhutxV6D5zZiG5Sr"
    "uBoTtvF9L9q65nXbiwprXre92ARFv6QtZ1lGblljTt32onJCbphAoo5/hlHPwLIzYNoTUC"
    "pFOp3aBKT5NP7L4j+kfo5rrEx5iTi00vKE6JJETU01j1haqKrUX+qiXTkvypXzYJMpKUsd"
    "jEk61dw5AXXlNJCIoRN0ZqJM9ByIsvqwNbbdd0F1qHDI3Hzs7XYPj6KGT0HWue2FKX55eS"
    "B1D69dOo2WFLr49BmMW30s0AqPVPFMmqfvFMe+Y4ZWwLvugLfc85UP+0hz6S3j0S1DK5lr"
    "C81atrfM+cxJtjUe0Bxf2agTmpui1BNmm8OtPF0+uFOuws9pHtPbiyHXxTTNKqYJs9lVhF"
    "mCpRUqxDqSuOBLpYBwSN5CdPf3qvVBLWuEutAJNTxnehFhkZNRGKSMWDIoW7bJ0b/Isb2W"
    "6QoCjHJ1OKv5dtI+bjHA++cWZj//Dyjs8uw="
)
