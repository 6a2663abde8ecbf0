"""``supplyledger``: the command line. Thin: parse, call the library, render."""

from __future__ import annotations

import typer

from supplyledger.cli import keys as keys_cmd
from supplyledger.cli import ledger as ledger_cmd
from supplyledger.cli.experiment_platforms import platforms_command
from supplyledger.cli.route import app as route_app

app = typer.Typer(help="supplyledger: a shared, tamper-evident supply-chain ledger.",
                  no_args_is_help=True, add_completion=False)
experiment_app = typer.Typer(help="Reproduce the measurements of the papers.",
                             no_args_is_help=True)
tx_app = typer.Typer(help="Sign and submit transactions.", no_args_is_help=True)

app.add_typer(keys_cmd.app, name="keys")
app.add_typer(tx_app, name="tx")
app.add_typer(route_app, name="route", help="Vehicle routing (VRPTW) with PyVRP.")
app.add_typer(experiment_app, name="experiment")
experiment_app.command("platforms", help="Paper 000 Tables 1-3: platforms A/B/C simulated.")(
    platforms_command)
app.command("init")(ledger_cmd.init)
app.command("audit")(ledger_cmd.audit)
app.command("proof")(ledger_cmd.proof)
app.command("verify-proof")(ledger_cmd.verify_proof)
app.command("bench")(ledger_cmd.bench)
app.command("contracts")(ledger_cmd.contracts)
tx_app.command("submit")(ledger_cmd.submit)

# Traceability (issue 3): trace, recall, EPCIS capture/export, paper 002 Table 2.
from supplyledger.cli.bench_trace import bench_trace_command  # noqa: E402
from supplyledger.cli.epcis_cmd import app as epcis_app  # noqa: E402
from supplyledger.cli.experiment_tamper import tamper_command  # noqa: E402
from supplyledger.cli.trace_cmd import recall_command, trace_command  # noqa: E402

app.command("trace")(trace_command)
app.command("bench-trace")(bench_trace_command)
app.command("recall")(recall_command)
app.add_typer(epcis_app, name="epcis")
experiment_app.command("tamper", help="Paper 002 Table 2: tampering per link, plain DB vs "
                       "ledger.")(tamper_command)

# Web (issue 5): API + UI server, the demo, and the page benchmark.
from supplyledger.cli.demo import demo as demo_command  # noqa: E402
from supplyledger.cli.serve import bench_pages, serve  # noqa: E402

app.command("serve")(serve)
app.command("demo")(demo_command)
app.command("bench-pages")(bench_pages)

# Commerce (issue 4): paper 001 Tables 3-4 and the order-lifecycle benchmark.
from supplyledger.cli.bench_orders import bench_orders_command  # noqa: E402
from supplyledger.cli.experiment_throughput import throughput_command  # noqa: E402

experiment_app.command("throughput", help="Paper 001 Tables 3-4: throughput and latency "
                       "without and with RSA.")(throughput_command)
app.command("bench-orders")(bench_orders_command)

# KPIs and the monthly emissions report (issue 6).
from supplyledger.cli.emissions_cmd import app as emissions_app  # noqa: E402
from supplyledger.cli.kpi_cmd import kpi_command  # noqa: E402

app.command("kpi")(kpi_command)
app.add_typer(emissions_app, name="emissions")

# Dispatch plans on the ledger (issue 6).
from supplyledger.cli.dispatch_cmd import app as dispatch_app  # noqa: E402

app.add_typer(dispatch_app, name="dispatch")

# Sensor ingest (issue 6): devices' signed reading batches, cold-chain rules.
from supplyledger.cli.bench_readings import bench_readings_command  # noqa: E402

app.command("bench-readings")(bench_readings_command)

# MQTT broker logins for devices (ingest/broker.py).
from supplyledger.cli.mqtt_cmd import mqtt_enroll  # noqa: E402

app.command("mqtt-enroll")(mqtt_enroll)

# Operating a ledger directory: verified backups, repair of derived tables from the blocks.
from supplyledger.cli.ops_cmd import backup_command, repair_command  # noqa: E402

app.command("backup")(backup_command)
app.command("repair")(repair_command)

# Contract rules versions: in force on a ledger against those the installed code implements.
from supplyledger.cli.rules_cmd import rules_command  # noqa: E402

app.command("rules")(rules_command)

__all__ = ["app", "main"]


def main() -> None:
    app()

