"""Per-port persisted settings (bridge/store.py), NOTES C16.

C16: with AT+SYSSTORE=1 the CIPDNS, CIPSNTPCFG and CIPSSLCPSK settings are
persisted per port with an atomic write (temporary file, fsync, rename), so
the file always holds the old settings or the new, never a mix, and restored
at start and by AT+RST (an unreadable file restores nothing).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bridge.store import Store

SETTINGS = {
    "dns": {"enable": True, "servers": ["1.1.1.1", "9.9.9.9"]},
    "sntp": {"enable": True, "timezone": -5, "servers": ["pool.ntp.org"]},
    "psk": {"5": ["key\u00e9", "hint"]},
    "empty": [],
    "none": None,
    "ratio": 0.5,
}


def files_in(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


def test_round_trip(tmp_path: Path):
    """C16: what is saved is what is restored."""
    store = Store(tmp_path / "port.json")
    store.save(SETTINGS)
    assert store.load() == SETTINGS
    assert Store(tmp_path / "port.json").load() == SETTINGS  # a fresh instance too


def test_save_replaces_previous_values(tmp_path: Path):
    store = Store(tmp_path / "port.json")
    store.save(SETTINGS)
    store.save({"dns": {"enable": False, "servers": []}})
    assert store.load() == {"dns": {"enable": False, "servers": []}}
    store.save({})
    assert store.load() == {}


def test_file_is_json_object(tmp_path: Path):
    """The file is plain JSON an operator can read."""
    store = Store(tmp_path / "port.json")
    store.save({"b": 1, "a": [1, 2]})
    assert json.loads((tmp_path / "port.json").read_text(encoding="utf-8")) == {
        "b": 1, "a": [1, 2]}


def test_missing_file_is_empty(tmp_path: Path):
    """C16: nothing stored yet restores nothing."""
    assert Store(tmp_path / "port.json").load() == {}
    assert Store(tmp_path / "no" / "such" / "dir" / "port.json").load() == {}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b'{"dns": ',
        b"not json at all",
        b"\xff\xfe\x00garbage",  # not UTF-8
        b"[1, 2, 3]",
        b'"a string"',
        b"42",
        b"null",
        b"true",
    ],
)
def test_corrupt_or_non_object_file_is_empty(tmp_path: Path, content: bytes):
    """C16: an unreadable file, or JSON that is not an object, restores nothing
    (no exception: the port must still start)."""
    path = tmp_path / "port.json"
    path.write_bytes(content)
    assert Store(path).load() == {}


def test_path_that_is_a_directory_is_empty(tmp_path: Path):
    """An OSError other than 'missing' also restores nothing."""
    path = tmp_path / "port.json"
    path.mkdir()
    assert Store(path).load() == {}


def test_state_directory_is_created(tmp_path: Path):
    """C16: the state directory need not exist before the first save."""
    path = tmp_path / "state" / "at-bridge" / "deep" / "port.json"
    store = Store(path)
    store.save(SETTINGS)
    assert path.is_file()
    assert store.load() == SETTINGS


def test_no_temporary_file_left_behind(tmp_path: Path):
    """C16: after a save the directory holds the settings file only."""
    store = Store(tmp_path / "port.json")
    store.save(SETTINGS)
    store.save({"a": 1})
    assert files_in(tmp_path) == ["port.json"]


def test_ports_have_separate_files(tmp_path: Path):
    """C16: settings are per port (one file each)."""
    first, second = Store(tmp_path / "uart0.json"), Store(tmp_path / "uart1.json")
    first.save({"port": 0})
    second.save({"port": 1})
    assert first.load() == {"port": 0}
    assert second.load() == {"port": 1}
    assert files_in(tmp_path) == ["uart0.json", "uart1.json"]


def test_save_replaces_the_file_by_rename(tmp_path: Path):
    """C16: the new settings arrive by rename, never by rewriting the old file
    in place: a reader holding the old file still sees the old settings whole."""
    path = tmp_path / "port.json"
    store = Store(path)
    store.save({"old": True})
    with open(path, encoding="utf-8") as old:
        store.save({"new": True, "padding": "x" * 10000})
        assert json.load(old) == {"old": True}
    assert store.load() == {"new": True, "padding": "x" * 10000}


def test_write_is_fsynced_before_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """C16: temporary file, fsync, rename (then the directory is fsynced)."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync-dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync-file")
        real_fsync(fd)

    def replace(source, destination) -> None:
        assert Path(source).parent == Path(destination).parent  # same file system
        assert Path(source) != Path(destination)
        events.append("rename")
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    Store(tmp_path / "port.json").save(SETTINGS)
    assert events == ["fsync-file", "rename", "fsync-dir"]


BAD_VALUES = pytest.mark.parametrize(
    "bad_values",
    [
        {"dns": object()},  # json cannot serialise it
        {"sntp": {"servers": {"a", "b"}}},  # a set, deep inside
        {"a": 1, 2: "b"},  # sort_keys cannot order str and int keys
    ],
    ids=["object", "set", "mixed-keys"],
)


@BAD_VALUES
def test_failed_write_leaves_previous_file_intact(tmp_path: Path, bad_values):
    """C16: a save that fails part way raises and leaves the old settings, whole."""
    path = tmp_path / "port.json"
    store = Store(path)
    store.save(SETTINGS)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        store.save(bad_values)
    assert path.read_bytes() == before
    assert store.load() == SETTINGS


@BAD_VALUES
def test_failed_write_leaves_no_temporary_file(tmp_path: Path, bad_values):
    """C16: a save that fails removes its temporary file (a later run has another
    pid, so a leftover `.port.json.<pid>.tmp` would stay in the state directory)."""
    store = Store(tmp_path / "port.json")
    store.save(SETTINGS)
    with pytest.raises(TypeError):
        store.save(bad_values)
    assert files_in(tmp_path) == ["port.json"]


def test_failed_first_write_stores_nothing(tmp_path: Path):
    """C16: a first save that fails stores nothing: load still gives {}, and
    the state directory holds no file at all."""
    store = Store(tmp_path / "port.json")
    with pytest.raises(TypeError):
        store.save({"dns": object()})
    assert store.load() == {}
    assert files_in(tmp_path) == []


async def test_asave_round_trip(tmp_path: Path):
    """asave (off the event loop) writes what save would."""
    path = tmp_path / "state" / "port.json"
    store = Store(path)
    await store.asave(SETTINGS)
    assert store.load() == SETTINGS
    await store.asave({"a": 1})
    assert store.load() == {"a": 1}
    assert files_in(path.parent) == ["port.json"]


async def test_asave_snapshots_the_values(tmp_path: Path):
    """asave saves the values as they were when it was called."""
    store = Store(tmp_path / "port.json")
    values = {"a": 1}
    await store.asave(values)
    values["a"] = 2
    assert store.load() == {"a": 1}


async def test_asave_failure_propagates_and_keeps_previous(tmp_path: Path):
    """C16 under trio: a failed asave raises in the caller, the old file stays."""
    path = tmp_path / "port.json"
    store = Store(path)
    await store.asave(SETTINGS)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        await store.asave({"dns": object()})
    assert path.read_bytes() == before
    assert store.load() == SETTINGS
