"""``supplyledger backup``: a copy of a ledger directory that a node can be started on.

The database is copied first, as one snapshot, while the node may keep running; then the
files beside it: the node key and admin key files (still sealed under their passwords),
the off-ledger private data and the devices' MQTT logins (hashed). Copying private data
after the database means every record the copied blocks name has its ciphertext in the
copy (newer ones are harmless). A record
erased after the copy is still in the backup: erasure (crypto-shredding) reaches backups
only when they are erased too, so keep them as short a time as the data's purpose allows.
The copy is audited unless told not to.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from supplyledger.errors import StoreError
from supplyledger.node.audit import AuditReport, run_audit
from supplyledger.store.snapshot import snapshot_db
from supplyledger.store.sqlite import DB_NAME

__all__ = ["BackupReport", "backup"]

# What a ledger directory holds besides its database (`supplyledger init`, private data,
# `mqtt-enroll`); the broker's other files are rewritten at each start.
FILES = ("node.key", "mosquitto/passwd")
DIRS = ("keys", "private")


@dataclass(frozen=True)
class BackupReport:
    out: Path
    height: int
    bytes: int
    audit: AuditReport | None

    def to_dict(self) -> dict[str, object]:
        return {"out": str(self.out), "height": self.height, "bytes": self.bytes,
                "audit": self.audit.to_dict() if self.audit else None}


def backup(data_dir: Path, out_dir: Path, *, verify: bool = True,
           workers: int = 2) -> BackupReport:
    """Copy ``data_dir`` into ``out_dir`` (new or empty, in a directory that exists). A
    failed copy removes what it wrote, so a half-written backup is never left looking like
    a ledger."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not (data_dir / DB_NAME).is_file():
        raise StoreError(f"no ledger in {data_dir}")
    if out_dir.resolve().is_relative_to(data_dir.resolve()):
        # It would be lost with the directory it should outlive (and one under private/
        # would copy itself into itself).
        raise StoreError(f"{out_dir} is inside the ledger directory {data_dir}; back up to "
                         "another directory, ideally on another disk")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise StoreError(f"{out_dir} is not a new or empty directory (to restore over a "
                         "ledger, move it aside first)")
    created = not out_dir.exists()
    parent = out_dir.absolute().parent
    if created and not parent.is_dir():
        # Not created: a backup disk that is not mounted would have its mount point filled
        # on the system disk, and a mistyped path would hide the backup somewhere new.
        raise StoreError(f"{out_dir}: " + ("Not a directory ({} is a file)" if parent.exists()
                         else "No such file or directory ({} does not exist)").format(parent))
    out_dir.mkdir(exist_ok=True)
    try:
        height = snapshot_db(data_dir, out_dir)
        _copy_files(data_dir, out_dir)
    except BaseException:
        for p in out_dir.iterdir():
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink()
        if created:
            out_dir.rmdir()
        raise
    size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    report = run_audit(out_dir, workers=workers) if verify else None
    return BackupReport(out_dir, height, size, report)


def _copy_files(data_dir: Path, out_dir: Path) -> None:
    """The files beside the database. One that cannot be read or written (a full disk, a
    file the backup's user may not read) stops the copy with its name and the reason:
    copytree would report every failed file's repr in one list, and a directory walk that
    skips what it may not read would make an incomplete backup look whole."""
    def fail(exc: OSError) -> NoReturn:
        raise StoreError(f"copying {exc.filename} to {out_dir} failed: "
                         f"{exc.strerror or exc}") from exc

    def copy(src: Path, dst: Path) -> None:
        try:
            dst.parent.mkdir(exist_ok=True)
            shutil.copy2(src, dst)
        except OSError as exc:
            exc.filename = str(src)
            fail(exc)

    for name in FILES:
        if (data_dir / name).is_file():
            copy(data_dir / name, out_dir / name)
    for name in (n for n in DIRS if (data_dir / n).is_dir()):
        for root, dirs, files in os.walk(data_dir / name, onerror=fail):
            here = out_dir / Path(root).relative_to(data_dir)
            try:
                here.mkdir(exist_ok=True)
                shutil.copymode(root, here)
            except OSError as exc:
                fail(exc)
            dirs.sort()
            for f in sorted(files):
                copy(Path(root) / f, here / f)
