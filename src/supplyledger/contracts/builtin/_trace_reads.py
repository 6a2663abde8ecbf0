"""State keys a trace call will probably read, from its prepared value: the executor
fetches those of a whole block in a few batched queries instead of one per read. Only a
hint: a key left out is read on demand, an extra key costs one lookup."""

from __future__ import annotations

from typing import Any

from supplyledger.contracts.builtin._trace_once import id_key
from supplyledger.contracts.builtin._trace_once import key as once_key
from supplyledger.contracts.builtin.custody import holding_key

__all__ = ["LGTIN", "reads_many", "reads_one"]

LGTIN = "https://id.gs1.org/01/"
_SSCC = "https://id.gs1.org/00/"
_GTIN = slice(len(LGTIN), len(LGTIN) + 14)  # the GTIN-14 of a canonical LGTIN/SGTIN


def _node_keys(ident: str) -> list[str]:
    # What _node looks up for an identifier.
    if not ident.startswith(LGTIN):
        return []
    keys = [f"custody/{holding_key(ident)}"]
    if "/21/" in ident:
        keys.append(f"products/i/{ident}")
    elif "/10/" in ident:
        keys.append(f"products/t/{ident[_GTIN]}")
    return keys


def _object_keys(ident: str) -> list[str]:
    # A claim, a registered unit, and for an SSCC its company prefix's index entry (read
    # when nobody claimed it yet: identity.check_prefix). The busiest path, an event on an
    # object claimed long ago (no aggregation or transformation), hints only the claim.
    keys = [f"trace/o/{ident}", f"trace/u/{ident}", f"products/u/{ident}"]
    if ident.startswith(_SSCC):
        keys.append(f"identity/x/{ident[len(_SSCC) + 1:len(_SSCC) + 5]}")
    return keys


def _guard_keys(f: dict[str, Any]) -> list[str]:
    # What the balance and the object claims read: lots and objects of a transformation or
    # aggregation, and the object an event about no registered lot may go to.
    if f["type"] not in ("TransformationEvent", "AggregationEvent"):
        first = f["parent"] or (f["objects"] or f["outputs"] or [""])[0]
        return [] if not first or first.startswith(LGTIN) else [f"trace/o/{first}"]
    keys: list[str] = []
    for ident in (*f["inputs"], *f["outputs"], *f["objects"], *([f["parent"]] * bool(
            f["parent"]))):
        if ident.startswith(LGTIN):
            keys += [f"trace/q/{ident}", f"products/b/{ident}", f"trace/u/{ident}"]
        else:
            keys += _object_keys(ident)
    if f["type"] == "TransformationEvent":  # inputs under customs control stay whole
        keys += [f"customs/b/{i}" for i in f["inputs"] if i.startswith(LGTIN)]
        # (the state of its earlier parts, rules v3, is keyed by the recorder's
        # organisation, which the prepared value does not tell: read on demand)
    return keys


def _event_keys(f: dict[str, Any]) -> list[str]:
    # Every identifier an event names is resolved (_subjects, _edges), and chains read;
    # and where the event is recorded already (rules v2: once per chain).
    keys = [f"trace/{once_key(f)}"]
    if f.get("declares"):  # (rules v4) where the event declared wrong was recorded
        keys.append(f"trace/{once_key(f, declared=True)}")
    if "eid" in f:  # (rules v6) which event the eventID names
        keys.append(f"trace/{id_key(f['eid'])}")
    for ident in (*f["outputs"], *f["objects"], *f["inputs"], *([f["parent"]] * bool(
            f["parent"]))):
        keys.extend(_node_keys(ident))
        keys.append(f"trace/b/{ident}")
    return keys + _guard_keys(f)


def reads_one(value: dict[str, Any]) -> list[str]:
    f = value["items"][0]
    keys = [f"custody/{holding_key(value['batch'])}", f"trace/b/{value['batch']}",
            f"trace/{once_key(f)}"]
    if f.get("declares"):  # (rules v4) where the event declared wrong was recorded
        keys.append(f"trace/{once_key(f, declared=True)}")
    if "eid" in f:  # (rules v6) which event the eventID names
        keys.append(f"trace/{id_key(f['eid'])}")
    # a transformation's inputs and outputs, an aggregation's parent and (v3) its children
    # are resolved; an event not naming the batch outright is searched for it (v3)
    for ident in (*f["inputs"], *f["outputs"], *([f["parent"]] * bool(f["parent"]))):
        keys.extend(_node_keys(ident))
    for ident in f["objects"] if f["parent"] else ():  # children, to link only those named
        keys.extend(_node_keys(ident))
    if value["batch"] not in (*f["objects"], *f["outputs"], *f["inputs"], f["parent"]):
        keys += [f"products/i/{o}" for o in f["objects"]
                 if o.startswith(LGTIN) and "/21/" in o]
        if f["parent"]:
            keys.append(f"trace/u/{f['parent']}")
    return keys + _guard_keys(f)


def reads_many(value: dict[str, Any]) -> list[str]:
    return [k for f in value["items"] for k in _event_keys(f)]
