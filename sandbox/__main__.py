"""Local emulator of the five helpdesk APIs, to try tap-helpdesk without an account.

It prints, per provider, the settings that reach it (its fake credentials and its URL) as
`meltano config set` lines and as a JSON config for `tap-helpdesk --config`, then serves
until Ctrl-C. Its data lies in 2024; GET /_sandbox/truth counts every stream, GET
/_sandbox/stats the requests it answered.

Examples:
  python -m sandbox                                  # all five providers on port 8765
  python -m sandbox --providers enneo --size enneo=50000
  python -m sandbox --fault-rate 0.1 --mutate-every 20
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import typing as t

from sandbox import DEFAULT_SIZES, PROVIDER_APIS, build_sandbox, tap_settings
from sandbox.data import DATA_START
from sandbox.server import FAULT_KINDS, Knobs

#: a first sync from here reads all the sandbox's data
START_DATE = DATA_START.strftime("%Y-%m-%dT%H:%M:%SZ")
PLUGIN = "tap-helpdesk"


def _size(text: str) -> tuple[str, int]:
    key, _, number = text.partition("=")
    if key not in PROVIDER_APIS or not number.isdigit():
        raise argparse.ArgumentTypeError(
            f"expected PROVIDER=N with PROVIDER in {list(PROVIDER_APIS)}"
        )
    return key, int(number)


def _providers(text: str) -> list[str]:
    chosen = [key for key in text.split(",") if key]
    unknown = [key for key in chosen if key not in PROVIDER_APIS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {','.join(PROVIDER_APIS)}")
    return chosen


def _fault_kinds(text: str) -> tuple[str, ...]:
    return tuple(kind for kind in text.split(",") if kind)


def parser() -> argparse.ArgumentParser:
    """The command line: data, which providers, and the knobs that make it hostile."""
    cli = argparse.ArgumentParser(
        prog="python -m sandbox",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cli.add_argument("--host", default="127.0.0.1", help="address to listen on")
    cli.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    cli.add_argument("--seed", type=int, default=7, help="seed of the generated data")
    cli.add_argument(
        "--size",
        type=_size,
        action="append",
        default=[],
        metavar="PROVIDER=N",
        help=f"tickets per provider, repeatable (defaults: {DEFAULT_SIZES})",
    )
    cli.add_argument(
        "--providers",
        type=_providers,
        default=list(PROVIDER_APIS),
        help=f"comma-separated providers to emulate (default: {','.join(PROVIDER_APIS)})",
    )
    knobs = cli.add_argument_group("fault knobs")
    knobs.add_argument(
        "--fault-rate",
        type=float,
        default=0.0,
        help="fraction of requests answered with a fault (e.g. 0.1)",
    )
    knobs.add_argument(
        "--fault-kinds",
        type=_fault_kinds,
        default=FAULT_KINDS,
        help=f"faults to pick from (default: {','.join(FAULT_KINDS)})",
    )
    knobs.add_argument(
        "--mutate-every",
        type=int,
        default=0,
        metavar="K",
        help="create and update a ticket every K requests per provider (tickets changing mid-sync)",
    )
    knobs.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="do not enforce the providers' documented rate limits (no 429 for exceeding them)",
    )
    latency = cli.add_argument_group("latency knobs (answers that take time, as a real API's do)")
    latency.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds every answer takes (a real API answers in 150-500 ms)",
    )
    latency.add_argument(
        "--latency-jitter",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="up to this many seconds more, at random, per answer",
    )
    latency.add_argument(
        "--provider-latency",
        type=_provider_seconds,
        action="append",
        default=[],
        metavar="PROVIDER=SECONDS",
        help="a provider's own latency, instead of --latency (repeatable)",
    )
    latency.add_argument(
        "--export-latency",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds a Filum export takes to generate (default: --latency)",
    )
    return cli


def knobs_from(args: argparse.Namespace) -> Knobs:
    """The run-time behaviour the command line asked for."""
    return Knobs(
        fault_rate=args.fault_rate,
        fault_kinds=tuple(args.fault_kinds),
        mutate_every=args.mutate_every,
        rate_limits=not args.no_rate_limits,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        provider_latency=dict(args.provider_latency),
        export_latency=args.export_latency,
    )


def _provider_seconds(text: str) -> tuple[str, float]:
    key, _, seconds = text.partition("=")
    try:
        return key, float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError("expected PROVIDER=SECONDS, e.g. enneo=0.25") from None


def _leaves(prefix: str, block: dict[str, t.Any]) -> list[tuple[str, t.Any]]:
    return [(f"{prefix}.{name}", value) for name, value in block.items()]


def settings_text(url: str, providers: t.Iterable[str]) -> str:
    """Per provider: the `meltano config set` lines and the JSON config that reach `url`."""
    lines = [
        "Settings that reach it (fake credentials), per provider; start_date once:",
        f"  meltano config set {PLUGIN} start_date {START_DATE}",
    ]
    for key in providers:
        block = tap_settings(key, url)
        lines += ["", f"{key}:"]
        lines += [
            f"  meltano config set {PLUGIN} {name} {shlex.quote(str(value))}"
            for name, value in _leaves(key, block)
        ]
        config = {"start_date": START_DATE, key: block}
        lines.append(f"  JSON config: {json.dumps(config)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Serve the emulators `argv` asks for and print the settings that reach them."""
    args = parser().parse_args(argv)
    sandbox = build_sandbox(
        seed=args.seed,
        sizes=dict(args.size),
        port=args.port,
        knobs=knobs_from(args),
        providers=args.providers,
    )
    print(f"sandbox listening on {sandbox.url}", flush=True)
    print(settings_text(sandbox.url, args.providers), flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
