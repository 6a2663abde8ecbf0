"""Create a ledger directory: genesis block, node key and the first admin keys."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supplyledger.contracts.builtin.identity import ROLES
from supplyledger.contracts.registry import all_tables, load_builtin
from supplyledger.contracts.runtime import Contract
from supplyledger.errors import NodeError, StoreError, ValidationError
from supplyledger.ledger.crypto import PrivateKey, generate
from supplyledger.ledger.keyfile import KdfParams, seal, unseal
from supplyledger.ledger.tx import MAX_ID, is_id
from supplyledger.node.genesis import build_genesis, genesis_document
from supplyledger.store.sqlite import DB_NAME, SQLiteStore

__all__ = ["CONSORTIUM_ORG", "InitResult", "init_ledger", "load_node_key", "write_key"]

CONSORTIUM_ORG = "consortium"
NODE_KEY_FILE = "node.key"


@dataclass(frozen=True)
class InitResult:
    chain: str
    genesis_hash: str
    node_did: str
    admins: list[tuple[str, str, Path | None]]  # name, did, key file


def write_key(path: Path, key: PrivateKey, password: str, params: KdfParams | None = None) -> None:
    """Write a sealed key file, readable only by its owner, whole or not at all: a full
    disk or an interrupt leaves no key file rather than half of one. Never replaces an
    existing file (``FileExistsError``)."""
    data = seal(key, password, params)
    path.parent.mkdir(parents=True, exist_ok=True)
    exists = FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    if path.exists():  # before writing anything
        raise exists
    # mkstemp creates the file 0600 whatever the umask: the sealed key is never readable by
    # others, not even for a moment.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if a file appeared at ``path``: none is overwritten
        except FileExistsError:
            raise exists from None
        except OSError:  # a file system without hard links (FAT): rename, checked first
            if path.exists():
                raise exists from None
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def _fsync_dir(d: Path) -> None:
    """Make a new directory entry durable (POSIX); not possible everywhere, so best effort."""
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_node_key(data_dir: Path, password: str) -> PrivateKey:
    path = Path(data_dir) / NODE_KEY_FILE
    if not path.exists():
        raise NodeError(f"no node key at {path}")
    return unseal(path.read_bytes(), password)


def init_ledger(
    data_dir: Path,
    *,
    chain: str,
    time_ms: int,
    node_password: str,
    admins: list[tuple[str, PrivateKey, str | None]],
    node_key: PrivateKey | None = None,
    extra_orgs: list[dict[str, Any]] | None = None,
    kdf: KdfParams | None = None,
    contracts: dict[str, Contract] | None = None,
) -> InitResult:
    """``admins``: (name, key, password for its key file or None to not write one).
    ``contracts``: the release's contracts (default: the built-in ones); the ledger starts
    under their newest rules."""
    data_dir = Path(data_dir)
    if not is_id(chain):
        raise ValidationError(f"chain id must be a string of 1-{MAX_ID} characters: every "
                              "transaction names it")
    if (data_dir / DB_NAME).exists():
        raise NodeError(f"{data_dir} already holds a ledger")
    # What this call creates, so a failure (a full disk) can take it away again: a
    # half-made ledger (a database without its node key) would make every later `init`
    # refuse the directory and every `serve` find no ledger in it.
    made = [d for d in (data_dir, *data_dir.parents) if not d.exists()]
    files = [data_dir / n for n in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm",
                                    f"{DB_NAME}-journal", NODE_KEY_FILE)]
    files += [data_dir / "keys" / f"{name}.key" for name, _, pw in admins if pw is not None]
    files = [f for f in files if not f.exists()]  # never one that was there before
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return _init_ledger(data_dir, chain=chain, time_ms=time_ms,
                            node_password=node_password, admins=admins, node_key=node_key,
                            extra_orgs=extra_orgs, kdf=kdf, contracts=contracts)
    except BaseException as exc:
        _remove_new(files, [data_dir / "keys", *made])
        failed = f"creating the ledger in {data_dir} failed, and nothing of it was kept"
        if isinstance(exc, OSError):
            raise StoreError(f"{failed}: {_os_reason(exc)}") from exc
        if isinstance(exc, StoreError):
            raise StoreError(f"{failed}: {exc.message}") from exc
        raise


def _os_reason(exc: OSError) -> str:
    what = f"{exc.filename}: " if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"{what}the disk is full; free space and run init again"
    return f"{what}{exc.strerror or exc}"


def _remove_new(files: list[Path], dirs: list[Path]) -> None:
    """Remove what a failed ``init_ledger`` created: ``files``, then each of ``dirs``
    (innermost first) that is left empty."""
    for f in files:
        with contextlib.suppress(OSError):
            f.unlink()
    for d in dirs:
        with contextlib.suppress(OSError):
            d.rmdir()


def _init_ledger(
    data_dir: Path,
    *,
    chain: str,
    time_ms: int,
    node_password: str,
    admins: list[tuple[str, PrivateKey, str | None]],
    node_key: PrivateKey | None,
    extra_orgs: list[dict[str, Any]] | None,
    kdf: KdfParams | None,
    contracts: dict[str, Contract] | None,
) -> InitResult:
    node_key = node_key or generate("rsa")
    contracts = contracts or load_builtin()
    orgs = [{"id": CONSORTIUM_ORG, "name": "Consortium", "roles": sorted(ROLES)},
            *(extra_orgs or [])]
    entries = [{"name": "node-1", "org": CONSORTIUM_ORG, "roles": ["node"],
                "public_key": node_key.public.b64}]
    for name, key, _ in admins:
        entries.append({"name": name, "org": CONSORTIUM_ORG, "roles": ["admin", "auditor"],
                        "public_key": key.public.b64})
    doc = genesis_document(chain=chain, time_ms=time_ms, orgs=orgs, admins=entries,
                           contracts=contracts)
    rec, writes, ops = build_genesis(doc, node_key, contracts)
    store = SQLiteStore(data_dir, all_tables(contracts))
    try:
        store.ensure_projections()
        store.commit_block(rec, writes, ops, meta={"chain": chain, "genesis": rec.hash})
    finally:
        store.close()
    write_key(data_dir / NODE_KEY_FILE, node_key, node_password, kdf)
    out: list[tuple[str, str, Path | None]] = []
    for name, key, password in admins:
        path = None
        if password is not None:
            path = data_dir / "keys" / f"{name}.key"
            write_key(path, key, password, kdf)
        out.append((name, key.did, path))
    return InitResult(chain, rec.hash, node_key.did, out)
