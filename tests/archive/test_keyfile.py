from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from archive.errors import KeyRingError
from archive.keys.key_file import generate_key_file, load_key_file, write_key_file
from tests.archive.keys import KEK1, KEK2, make_ring


def test_generate_then_load(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "archive.json"
    ring = generate_key_file(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    loaded = load_key_file(path)
    assert loaded.kek_ids == ("kek1",)
    assert loaded.kek("kek1") == ring.kek("kek1")
    assert loaded.index_key == ring.index_key
    assert loaded.verify_key.public_bytes_raw() == ring.verify_key.public_bytes_raw()
    assert len({ring.kek("kek1"), ring.index_key}) == 2


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "archive.json"
    path.write_text("{}")
    with pytest.raises(KeyRingError, match="already exists"):
        generate_key_file(path)
    assert path.read_text() == "{}"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620])
def test_group_or_world_accessible_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "archive.json"
    write_key_file(path, make_ring("kek2"))
    os.chmod(path, mode)
    with pytest.raises(KeyRingError) as caught:
        load_key_file(path)
    assert str(caught.value) == (
        f"archive key file {path} has mode {mode:04o}: group or others can access it; "
        f"run `chmod 600 {path}` (and check who may have read it)"
    )


def test_write_key_file_replaces_atomically_with_0600(tmp_path: Path) -> None:
    path = tmp_path / "archive.json"
    write_key_file(path, make_ring())
    write_key_file(path, make_ring("kek2"))
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["archive.json"]
    loaded = load_key_file(path)
    assert (loaded.active_kek_id, loaded.kek("kek1"), loaded.kek("kek2")) == ("kek2", KEK1, KEK2)


def test_bad_documents_name_the_field_not_the_value(tmp_path: Path) -> None:
    path = tmp_path / "archive.json"
    document = make_ring().to_document()
    document["index"] = "c2hvcnQ="  # 5 bytes
    path.write_text(json.dumps(document))
    os.chmod(path, 0o600)
    with pytest.raises(KeyRingError) as caught:
        load_key_file(path)
    assert str(caught.value) == f"archive key file {path} 'index' must be 32 bytes, got 5"


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "archive.json"
    path.write_text("kek1:abc")
    os.chmod(path, 0o600)
    with pytest.raises(KeyRingError, match="is not valid JSON"):
        load_key_file(path)
    with pytest.raises(KeyRingError, match=r"cannot open archive key file .*No such file"):
        load_key_file(tmp_path / "absent.json")
