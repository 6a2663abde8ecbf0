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

__all__ = ["app", "main"]


def main() -> None:
    app()

