"""The documents cannot drift from the command line: every ``supplyledger …`` line in
README.md and docs/*.md names a real command, and every ``--option`` it uses is one of
that command's; a line shown in full (in a code block, or inline with an option) gives the
command's required options and arguments. Every ``--option`` in the docs' code exists on
some command, and every command, option and argument has a help text. Last, a few
behaviours the README's lines promise: ``epcis export --batch`` takes a lot number as trace
does, ``keys show`` prints a copyable key, ``dispatch plan --submit`` records no empty plan.

The check reads the Click tree Typer builds (no command runs), so it takes well under a
second. The doc notation is the README's: ``[...]`` optional, ``a|b`` alternatives (of
commands, options or values), ``…`` elided (a line with it is not checked for required
options), and ``cmd | sub …`` for "also ``supplyledger sub …``"; a ``|`` into one of a few
common programs (``jq``, ``head``, …) is a shell pipe and ends the command, as ``&&``, ``;``
and ``>`` do, and anything else after a ``|`` must be a command."""

from __future__ import annotations

import functools
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from supplyledger.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Options of other tools that the docs quote in code (py-spy and valgrind, in
# docs/performance.md).
FOREIGN_OPTIONS = {"--gil", "--subprocesses", "--idle", "--tool", "--collect-atstart"}
ELLIPSIS = {"…", "..."}
STOP = {"&&", "||", ";", ">", ">>", "2>", "&"}
PIPES = {"jq", "head", "tail", "less", "grep", "tee", "sort", "wc", "cat", "python3"}
# `supplyledger` as a command word: not part of a module path or file name.
COMMAND = re.compile(r"(?<![\w.-])supplyledger(?=[ \t])")
FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)  # also in lists
INLINE = re.compile(r"`([^`]+)`")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*[a-z0-9](?![\w>-])")  # not arrows: --pay-->


@dataclass(frozen=True)
class Line:
    doc: str
    text: str
    fenced: bool  # in a code block: meant to be run as it stands


def code_lines(name: str, text: str) -> Iterator[Line]:
    """Each line of the fenced blocks (continuations joined) and each inline code span."""
    text = text.replace("\\|", "|")  # Markdown tables escape the pipe
    for block in FENCE.findall(text):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            pending = f"{pending} {line}" if pending else line
            if _quotes_closed(pending):  # a quoted argument may run over several lines
                yield Line(name, pending, True)
                pending = ""
        if pending:
            yield Line(name, pending, True)
    for span in INLINE.findall(FENCE.sub("", text)):
        yield Line(name, " ".join(span.split()), False)


def _quotes_closed(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    return True


@functools.cache
def cli_tree() -> Any:
    return typer.main.get_command(app)


def _is_group(cmd: Any) -> bool:
    return hasattr(cmd, "commands")


def _options(cmd: Any) -> dict[str, Any]:
    found = {"--help": None}
    for p in cmd.params:
        if p.param_type_name == "option":
            found.update({o: p for o in (*p.opts, *p.secondary_opts)})
    return found


def _tokens(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # an unbalanced quote further on: split on blanks instead
        return text.split("#", 1)[0].split()


def check_command(root: Any, tokens: list[str], line: Line) -> list[str]:
    """Problems with one command line; ``tokens`` follow the word ``supplyledger``."""
    where = f"{line.doc}: `{line.text}`"
    cmd, path, i = root, "supplyledger", 0
    while _is_group(cmd) and i < len(tokens) and not tokens[i].startswith("-"):
        names = tokens[i].strip("[]()").split("|")
        missing = [n for n in names if n not in cmd.commands]
        if missing:
            return [f"{where}: `{path}` has no command {', '.join(missing)}"]
        if len(names) > 1:  # `experiment platforms|tamper`: each with the rest of the line
            return [p for n in names for p in check_command(
                root, [*path.split()[1:], n, *tokens[i + 1:]], line)]
        cmd, path, i = cmd.commands[names[0]], f"{path} {names[0]}", i + 1
    problems: list[str] = []
    opts, given, positional = _options(cmd), set(), 0
    elided = False
    complete = line.fenced or any(t.lstrip("[(").startswith("--") for t in tokens[i:])
    while i < len(tokens):
        tok = tokens[i].strip("[](),")
        i += 1
        if tok in STOP or tok.startswith(">"):
            break
        if tok == "|":  # README shorthand `a | b`, or a shell pipe
            if i < len(tokens) and tokens[i] not in PIPES:
                problems += check_command(root, tokens[i:], line)
            break
        if tok in ELLIPSIS or tok.endswith("…"):
            elided = True
            continue
        if not tok.startswith("-") or tok == "-":
            positional += 1
            continue
        takes_value = False
        for name in tok.split("|"):
            name = name.split("=", 1)[0]
            if name not in opts:
                problems.append(f"{where}: `{path}` has no option {name}")
                continue
            p = opts[name]
            given.add(p)
            takes_value = takes_value or bool(
                p is not None and not p.is_flag and not p.count and "=" not in tok)
        i += takes_value  # skip the option's value
    args = [p for p in cmd.params if p.param_type_name == "argument"]
    if not _is_group(cmd) and all(a.nargs != -1 for a in args) and positional > len(args):
        problems.append(f"{where}: `{path}` takes {len(args)} argument(s), not {positional}")
    if complete and not elided and not _is_group(cmd):
        for p in cmd.params:
            if p.param_type_name == "option" and p.required and p not in given:
                problems.append(f"{where}: `{path}` needs {p.opts[0]}")
        needed = sum(1 for a in args if a.required)
        if positional < needed:
            problems.append(f"{where}: `{path}` needs {needed} argument(s)")
    return problems


def check_docs(docs: dict[str, str]) -> tuple[int, list[str]]:
    """(command lines checked, problems) over documents given as name -> Markdown text."""
    root, problems, checked = cli_tree(), [], 0
    for name, text in docs.items():
        for line in code_lines(name, text):
            for m in COMMAND.finditer(line.text):
                checked += 1
                problems += check_command(root, _tokens(line.text[m.end():]), line)
    return checked, problems


def all_options(cmd: Any) -> set[str]:
    if _is_group(cmd):
        return {"--help"}.union(*(all_options(c) for c in cmd.commands.values()))
    return set(_options(cmd))


def unknown_options(docs: dict[str, str]) -> list[str]:
    """``--options`` quoted in the docs' code that no command has."""
    known = all_options(cli_tree()) | FOREIGN_OPTIONS
    return sorted({f"{line.doc}: {o}" for name, text in docs.items()
                   for line in code_lines(name, text)
                   for o in re.findall(OPTION, line.text)
                   if o not in known})


def _docs() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8") for p in DOCS}


def test_every_documented_command_and_option_exists() -> None:
    checked, problems = check_docs(_docs())
    assert checked > 60  # the parser still finds the docs' command lines
    assert problems == []


def test_every_option_quoted_in_the_docs_exists() -> None:
    assert unknown_options(_docs()) == []


BOGUS = """
```bash
supplyledger audit --data ./ledger --jsn
supplyledger frobnicate --data ./ledger
supplyledger proof --data ./ledger            # no TXID
supplyledger bench-orders | bench-nothing
```
Run `supplyledger emissions report --month 2026-11` or `supplyledger kpi --data D extra`,
`supplyledger experiment platforms|tampering`, then `--no-such-option`.
```
placed --pay--> paid --clear--> cleared
```
"""


def test_the_check_names_each_drift() -> None:
    checked, problems = check_docs({"bogus.md": BOGUS})
    assert checked == 7
    text = "\n".join(problems)
    for expected in ("`supplyledger audit` has no option --jsn",
                     "`supplyledger` has no command frobnicate",
                     "`supplyledger proof` needs 1 argument(s)",
                     "`supplyledger` has no command bench-nothing",
                     "`supplyledger emissions report` needs --data",
                     "`supplyledger kpi` takes 0 argument(s), not 1",
                     "`supplyledger experiment` has no command tampering"):
        assert expected in text, text
    assert len(problems) == 7, text
    assert unknown_options({"bogus.md": BOGUS}) == ["bogus.md: --jsn",
                                                    "bogus.md: --no-such-option"]


@pytest.mark.parametrize("good", [
    "supplyledger trace BATCH|LOT --data ./ledger [--json]",
    "supplyledger keys new alice.key [--alg rsa|ed25519] | keys show alice.key [--json]",
    "supplyledger proof TXID --data ./ledger --json > proof.json",
    "supplyledger bench-readings --data /tmp/br && supplyledger audit --data /tmp/br/ledger",
    "supplyledger audit --data ./ledger --json | jq .ok",
    "supplyledger dispatch plan --data D --request r.json [--submit --key K]",
    "supplyledger epcis import a.jsonld [b.jsonld …] --data ./ledger --key k.key",
    "supplyledger tx submit c m --data D --key k.key --args \\\n  '{\"a\": 1,\n   \"b\": 2}'",
])
def test_the_docs_notation_is_understood(good: str) -> None:
    assert check_docs({"good.md": f"```bash\n{good}\n```\n"})[1] == []


def test_every_command_and_option_has_help() -> None:
    def walk(cmd: Any, path: str) -> Iterator[str]:
        if not (cmd.help or "").strip():
            yield f"{path}: no help"
        if _is_group(cmd):
            for name, sub in cmd.commands.items():
                yield from walk(sub, f"{path} {name}")
            return
        for p in cmd.params:
            if not (getattr(p, "help", None) or "").strip():
                yield f"{path} {p.name}: no help"

    assert list(walk(cli_tree(), "supplyledger")) == []


# --- what the README's command lines promise, beyond their names ---------------------------

def _run(*args: str, columns: int = 200) -> Any:
    from typer.testing import CliRunner

    return CliRunner().invoke(app, list(args), env={
        "COLUMNS": str(columns), "SUPPLYLEDGER_KEY_PASSWORD": "pw",
        "SUPPLYLEDGER_NODE_PASSWORD": "node"})


def test_epcis_export_takes_a_lot_number_as_trace_does(tmp_path: Path) -> None:
    from supplyledger.bench.consortium import Consortium

    gtin = "09506000134352"
    with Consortium(tmp_path / "ledger") as c:
        c.org("mill", ["manufacturer"])
        mill = c.member("mill", "mill", ["manufacturer"])
        c.ok(mill, "products", "create_product", {"gtin": gtin, "name": "flour"})
        batch = c.ok(mill, "products", "create_batch", {"gtin": gtin, "lot": "L7"})["batch"]
        c.ok(mill, "trace", "record_event", {"batch": batch, "event": {
            "type": "ObjectEvent", "eventTime": "2026-01-02T00:00:00Z",
            "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "bizStep": "storing",
            "disposition": "active", "quantityList": [{"epcClass": batch}]}})
    by_lot = _run("epcis", "export", "--batch", "L7", "--data", str(c.dir))
    by_id = _run("epcis", "export", "--batch", batch, "--data", str(c.dir))
    assert by_lot.exit_code == 0, by_lot.output
    assert by_lot.output == by_id.output
    assert json.loads(by_lot.output)["epcisBody"]["eventList"][0]["bizStep"] == "storing"
    unknown = _run("epcis", "export", "--batch", "L8", "--data", str(c.dir))
    assert unknown.exit_code == 2 and "no events recorded for L8" in unknown.output


def test_keys_show_prints_the_public_key_on_one_line(tmp_path: Path) -> None:
    from supplyledger.ledger.crypto import generate
    from supplyledger.ledger.keyfile import KdfParams, seal

    key = generate("rsa")
    (tmp_path / "a.key").write_bytes(seal(key, "pw", KdfParams(n=2**10)))
    res = _run("keys", "show", str(tmp_path / "a.key"), columns=40)  # narrower than the key
    assert res.exit_code == 0, res.output
    assert f"public_key   {key.public.b64}\n" in res.output  # copyable into --trust


def test_dispatch_plan_submits_nothing_when_nothing_is_routed(tmp_path: Path) -> None:
    from supplyledger.bench.consortium import Consortium
    from supplyledger.ledger.keyfile import KdfParams, seal
    from supplyledger.store.sqlite import SQLiteStore

    with Consortium(tmp_path / "ledger") as c:
        c.org("shop", ["platform"])
        c.org("trucks", ["transporter"])
        shop = c.member("shop", "shop", ["platform"])
        trucks = c.member("trucks", "trucks", ["transporter"])
    (tmp_path / "shop.key").write_bytes(seal(shop.key, "pw", KdfParams(n=2**10)))
    request = tmp_path / "request.json"
    request.write_text(json.dumps({
        "plan": "P-0", "platform": shop.did, "orders": {},
        "warehouse": {"node": "WH", "lat": 52.52, "lon": 13.405, "outbound_capacity": 10,
                      "open": "2026-01-05T06:00:00Z", "close": "2026-01-05T18:00:00Z"},
        "fleet": [{"vehicle": "V1", "transporter": trucks.did, "capacity": 10,
                   "vehicle_class": "van_diesel_avg"}]}))
    preview = _run("dispatch", "plan", "--data", str(c.dir), "--request", str(request))
    assert preview.exit_code == 0 and "nothing to dispatch" in preview.output
    res = _run("dispatch", "plan", "--data", str(c.dir), "--request", str(request),
               "--submit", "--key", str(tmp_path / "shop.key"))
    assert res.exit_code == 2 and "nothing to dispatch: none of the 0 open orders" in res.output
    store = SQLiteStore(c.dir)
    try:
        assert store.reader().execute("SELECT COUNT(*) FROM dispatch_plans").fetchone() == (0,)
    finally:
        store.close()


def test_the_contract_reference_is_generated_from_the_code() -> None:
    """docs/contracts.md is `supplyledger contracts --out docs/contracts.md`: a method,
    argument, role, error or docstring changed without regenerating it fails here."""
    from supplyledger.contracts.docs import contracts_markdown

    committed = (ROOT / "docs" / "contracts.md").read_text()
    assert committed == contracts_markdown(), (
        "docs/contracts.md is stale: run `supplyledger contracts --out docs/contracts.md`")


def test_the_architecture_lists_every_rules_version_beyond_v1() -> None:
    """docs/architecture.md's table of rules versions names exactly the versions above v1
    that the release's contracts implement."""
    from supplyledger.contracts.registry import load_builtin

    text = (ROOT / "docs" / "architecture.md").read_text()
    listed: set[tuple[str, int]] = set()
    contract = ""
    for name, version in re.findall(r"^\|\s*(`\w+`)?\s*\| v(\d+) \|", text, re.M):
        contract = name.strip("`") or contract
        listed.add((contract, int(version)))
    implemented = {(name, v) for name, c in load_builtin().items() for v in c.versions
                   if v > 1}
    assert listed == implemented
