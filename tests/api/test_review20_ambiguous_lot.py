"""A lot number printed on two products' bags: ``/api/trace``, ``/api/recall`` and the
recall page took the first product's lot silently (the CLI refuses and names both). A
recall of the wrong product reaches the wrong holders: they now refuse (API, 422 naming
both batches) or ask which one (the recall page), and an id of either still answers."""

from __future__ import annotations

import json

import httpx
import pytest

from .conftest import World, bearer
from .test_pages import _web_login

pytestmark = pytest.mark.anyio
BRAN = "06901234000030"


def _second_product_with_the_same_lot(world: World) -> str:
    world.ok("mill", "products", "create_product", {"gtin": BRAN, "name": "Bran"})
    return str(world.ok("mill", "products", "create_batch", {
        "gtin": BRAN, "lot": "L20260101", "quantity": "10", "uom": "KGM"})["batch"])


async def test_the_api_refuses_an_ambiguous_lot_and_names_both(
        client: httpx.AsyncClient, world: World) -> None:
    bran = _second_product_with_the_same_lot(world)
    h = await bearer(client, "mill")
    for path in ("/api/trace", "/api/recall"):
        r = await client.get(path, params={"batch": "L20260101"}, headers=h)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "validation_error" and err["details"]["arg"] == "batch"
        assert sorted(err["details"]["batches"]) == sorted([world.batch, bran])
        assert "several products" in err["message"]
        for batch in (world.batch, bran):  # either id answers
            r = await client.get(path, params={"batch": batch}, headers=h)
            assert r.status_code == 200 and r.json()["batch"] == batch, r.text


async def test_the_recall_page_asks_which_batch(client: httpx.AsyncClient,
                                                world: World) -> None:
    bran = _second_product_with_the_same_lot(world)
    await _web_login(client, "mill")
    page = (await client.get("/recall", params={"batch": "L20260101"})).text
    assert "Several batches have lot L20260101; which one to recall?" in page
    assert f'href="/recall?batch={bran}"' in page.replace("%3A", ":").replace("%2F", "/")
    assert 'id="aff"' not in page  # no recall shown until one is chosen
    page = (await client.get("/recall", params={"batch": bran})).text
    assert 'id="aff"' in page and "Several batches" not in page


async def test_an_sscc_as_printed_traces_its_logistic_unit_over_the_api_and_the_cli(
        client: httpx.AsyncClient, world: World) -> None:
    """The pages accepted the 18 digits they print; the API and the CLI resolve them the
    same way, in one place (``gs1.sscc_link``)."""
    from tests.trace.test_review11_recall import PALLET, agg
    from typer.testing import CliRunner

    from supplyledger.cli.main import app

    world.ok("mill", "trace", "record_events", {"events": json.dumps(
        [agg(8, PALLET, "ADD", world.batch, 30)])})
    digits = PALLET.rsplit("/", 1)[-1]
    h = await bearer(client, "mill")
    r = await client.get("/api/trace", params={"batch": digits}, headers=h)
    assert r.status_code == 200 and r.json()["batch"] == PALLET, r.text
    out = CliRunner().invoke(app, ["trace", digits, "--data", str(world.dir), "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["batch"] == PALLET, out.output
