"""plan_dispatch keeps every drop inside the order's delivery window on the ledger: a
request's ``window`` may narrow it (a customer's opening hours), never widen it."""

from __future__ import annotations

from typing import Any

from supplyledger.logistics.dispatch_plan import LedgerOrder, plan_dispatch
from supplyledger.logistics.dispatch_request import parse_request

H = 3_600_000
START = 1_790_000_000_000


def _request(window: list[int]) -> dict[str, Any]:
    return {
        "plan": "P-W", "platform": "p", "start": START, "speed_kmh": 30,
        "warehouse": {"node": "WH", "lat": 52.52, "lon": 13.405, "open": START,
                      "close": START + 10 * H, "outbound_capacity": 100},
        "fleet": [{"vehicle": "V1", "transporter": "t", "capacity": 100,
                   "vehicle_class": "van_diesel_avg"}],
        # About 33 km north: an hour's drive at 30 km/h.
        "orders": {"O1": {"lat": 52.82, "lon": 13.405, "quantity": 1, "window": window}},
    }


def test_request_window_cannot_extend_the_ledger_window() -> None:
    # The ledger says: deliver within 30 minutes of the start; the drop is an hour away.
    ledger = [LedgerOrder("O1", START, START + H // 2, None)]
    res = plan_dispatch(parse_request(_request([START, START + 8 * H])), ledger,
                        time_limit_s=0.5, max_iterations=200)
    assert res.args["routes"] == []
    assert res.unserved[0]["order"] == "O1"


def test_request_window_disjoint_from_the_ledger_window() -> None:
    ledger = [LedgerOrder("O1", START, START + 2 * H, None)]
    res = plan_dispatch(parse_request(_request([START + 3 * H, START + 8 * H])), ledger,
                        time_limit_s=0.5, max_iterations=200)
    assert res.args["routes"] == []
    assert res.unserved == [{"order": "O1", "reason": "requested window lies outside the "
                                                      "order's delivery window"}]


def test_request_window_narrows_the_ledger_window() -> None:
    ledger = [LedgerOrder("O1", START, START + 8 * H, None)]
    res = plan_dispatch(parse_request(_request([START + 2 * H, START + 3 * H])), ledger,
                        time_limit_s=0.5, max_iterations=200)
    [route] = res.routes  # served: it waits for the window, then drives an hour back
    assert route["orders"] == ["O1"] and route["returns_at"] >= START + 3 * H
