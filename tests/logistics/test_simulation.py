"""Platforms experiment: calibration against paper 000, behaviour of the mechanisms, CLI."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from supplyledger.cli.experiment_platforms import platforms_command
from supplyledger.errors import ValidationError
from supplyledger.logistics.simulation import (
    LEDGER,
    PAPER_AFTER,
    PAPER_BEFORE,
    PLATFORMS,
    TOLERANCE,
    TRADITIONAL,
    run_platforms_experiment,
    simulate_platform,
)

METRICS = ("order_processing_h", "delivery_h", "cost_per_order", "satisfaction")
PLATFORM_B = PLATFORMS[1]


@pytest.fixture(scope="module")
def default_run() -> dict[str, Any]:
    return run_platforms_experiment()


def test_result_shape(default_run: dict[str, Any]) -> None:
    assert [p["name"] for p in default_run["platforms"]] == ["A", "B", "C"]
    for row in default_run["platforms"]:
        for key in ("before", "after", "paper_before", "paper_after"):
            assert set(row[key]) == set(METRICS)
        assert row["paper_before"] == PAPER_BEFORE[row["name"]]
        assert row["paper_after"] == PAPER_AFTER[row["name"]]
    assert default_run["params"]["seed"] == 7
    json.dumps(default_run)  # plain JSON types only


def test_traditional_run_reproduces_paper_before(default_run: dict[str, Any]) -> None:
    for row in default_run["platforms"]:
        ours, paper = row["before"], row["paper_before"]
        for metric in ("order_processing_h", "delivery_h", "cost_per_order"):
            assert abs(ours[metric] - paper[metric]) <= TOLERANCE[metric] * paper[metric], (
                row["name"], metric, ours[metric], paper[metric])
        assert abs(ours["satisfaction"] - paper["satisfaction"]) <= TOLERANCE["satisfaction"]


def test_ledger_improves_time_cost_and_satisfaction(default_run: dict[str, Any]) -> None:
    for row in default_run["platforms"]:
        before, after = row["before"], row["after"]
        assert after["order_processing_h"] < before["order_processing_h"]
        assert after["delivery_h"] < before["delivery_h"]
        assert after["cost_per_order"] < before["cost_per_order"]
        assert after["satisfaction"] > before["satisfaction"]


def test_after_is_computed_not_typed_in() -> None:
    # Running the "ledger" arm with the traditional mechanism must give identical figures:
    # the after-values come only from the mechanism parameters.
    result = run_platforms_experiment(orders_per_platform=120, ledger=TRADITIONAL)
    for row in result["platforms"]:
        assert row["after"] == row["before"]


def test_same_seed_same_output_and_seed_matters() -> None:
    first = run_platforms_experiment(seed=11, orders_per_platform=150)
    second = run_platforms_experiment(seed=11, orders_per_platform=150)
    other = run_platforms_experiment(seed=12, orders_per_platform=150)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert first["platforms"] != other["platforms"]


def test_more_clerks_lower_processing_time() -> None:
    # B has 3 reconciliation clerks; with one the queue builds up over the day shift.
    hours = [simulate_platform(replace(PLATFORM_B, clerks=n), TRADITIONAL, seed=7)
             .order_processing_h for n in (1, 3, 8)]
    assert hours[0] > hours[1] > hours[2]
    assert hours[0] - hours[1] > 5  # one clerk is a real bottleneck, not noise


def test_slower_exception_detection_lengthens_delivery() -> None:
    blind = replace(LEDGER, exception_detection_mean_h=48.0)
    assert (simulate_platform(PLATFORM_B, blind, seed=7).delivery_h
            > simulate_platform(PLATFORM_B, LEDGER, seed=7).delivery_h)


def test_more_mismatches_cost_more() -> None:
    messy = replace(TRADITIONAL, mismatch_probability=0.5)
    base = simulate_platform(PLATFORM_B, TRADITIONAL, seed=7)
    worse = simulate_platform(PLATFORM_B, messy, seed=7)
    assert worse.cost_per_order > base.cost_per_order
    assert worse.reconciled_share > base.reconciled_share


def test_invalid_sample_size_rejected() -> None:
    with pytest.raises(ValidationError):
        run_platforms_experiment(orders_per_platform=0)


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("platforms")(platforms_command)

    @app.callback()
    def main() -> None:
        """Test harness mounting the command the way ``cli/main.py`` will."""

    return app


def test_cli_json_and_table() -> None:
    runner = CliRunner()
    as_json = runner.invoke(_app(), ["platforms", "--json", "--orders", "60", "--seed", "3"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.output)
    assert data == json.loads(json.dumps(run_platforms_experiment(seed=3, orders_per_platform=60)))
    table = runner.invoke(_app(), ["platforms", "--orders", "60"])
    assert table.exit_code == 0, table.output
    for text in ("Order processing (h)", "Satisfaction (1-5)", "█", "paper"):
        assert text in table.output
