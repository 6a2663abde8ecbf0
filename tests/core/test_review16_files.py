"""Review 16, files at the edges: ``backup --out DIR/sub/copy`` created the missing ``DIR/sub``
(an unmounted backup disk's mount point filled on the system disk); it is refused as an
output file's missing directory is, nothing created. ``keys new`` wrote the key file in
place: a full disk (stood in for by a file-size limit on a real ``supplyledger`` process)
left half a key file. It is written to a temporary file beside it and linked into place
whole, never over an existing file."""

from __future__ import annotations

import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from supplyledger.errors import StoreError
from supplyledger.ledger.keyfile import unseal
from supplyledger.node.backup import backup
from supplyledger.node.bootstrap import write_key

from .conftest import FAST_KDF, Keys, Ledger
from .test_cli_review import one_line_error, run


def _tree(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


# -- backup: the output directory's parent must exist ----------------------------------------

def test_backup_refuses_a_missing_parent_directory_and_creates_nothing(
        ledger: Ledger, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    before = _tree(tmp_path)
    for out, says in ((tmp_path / "unmounted" / "sub" / "copy",
                       f"No such file or directory ({tmp_path / 'unmounted' / 'sub'} "
                       "does not exist)"),
                      (tmp_path / "afile" / "copy",
                       f"Not a directory ({tmp_path / 'afile'} is a file)")):
        res = run("backup", "--data", str(ledger.dir), "--out", str(out))
        one_line_error(res, f"--out {out}: {says}")
        with pytest.raises(StoreError) as err:
            backup(ledger.dir, out, verify=False, workers=0)
        assert err.value.message == f"{out}: {says}"
        assert _tree(tmp_path) == before
    assert (tmp_path / "afile").read_text() == "x"


def test_backup_still_makes_a_new_directory_in_one_that_exists(
        ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "backups").mkdir()
    rep = backup(ledger.dir, tmp_path / "backups" / "copy", verify=False, workers=0)
    assert rep.height == 0 and (tmp_path / "backups" / "copy" / "node.key").is_file()
    monkeypatch.chdir(tmp_path)  # a relative name: its directory is the working one
    res = run("backup", "--data", str(ledger.dir), "--out", "here", "--no-verify")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "here" / "node.key").is_file()


# -- keys new: the key file whole or not at all -----------------------------------------------

def _limit(limit_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def test_a_full_disk_leaves_no_half_key_file(tmp_path: Path) -> None:
    key = tmp_path / "member.key"
    res = subprocess.run(
        [sys.executable, "-c", "from supplyledger.cli.main import app; app()", "keys", "new",
         str(key), "--alg", "ed25519"], preexec_fn=lambda: _limit(100), capture_output=True,
        text=True, timeout=300, env={**os.environ, "COLUMNS": "400",
                                     "SUPPLYLEDGER_KEY_PASSWORD": "key-password"})
    assert res.returncode == 2, res
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "File too large" in lines[0]
    assert list(tmp_path.iterdir()) == []  # neither the key file nor the temporary one
    # With room on the disk the same command writes it.
    res = subprocess.run(
        [sys.executable, "-c", "from supplyledger.cli.main import app; app()", "keys", "new",
         str(key), "--alg", "ed25519"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "SUPPLYLEDGER_KEY_PASSWORD": "key-password"})
    assert res.returncode == 0, res
    assert [p.name for p in tmp_path.iterdir()] == ["member.key"]
    assert unseal(key.read_bytes(), "key-password").did in res.stdout


def test_an_existing_key_file_is_never_replaced(tmp_path: Path, keys: Keys) -> None:
    key = tmp_path / "member.key"
    old = os.umask(0)  # the file is owner-only from its creation, whatever the umask
    try:
        write_key(key, keys.ed[0], "pw", FAST_KDF)
    finally:
        os.umask(old)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    first = key.read_bytes()
    with pytest.raises(FileExistsError) as err:
        write_key(key, keys.ed[1], "pw", FAST_KDF)
    assert err.value.filename == str(key)
    res = run("keys", "new", str(key), "--alg", "ed25519")
    one_line_error(res, f"{key} exists; refusing to overwrite a key")
    assert key.read_bytes() == first and [p.name for p in tmp_path.iterdir()] == ["member.key"]
