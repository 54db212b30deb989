"""Start the sandbox: python -m sandbox --port 8765 [--seed 7] [--size enneo=2500] ..."""

from __future__ import annotations

import argparse
import sys

from sandbox import DEFAULT_SIZES, PROVIDER_APIS, build_sandbox
from sandbox.server import FAULT_KINDS, Knobs


def _size(text: str) -> tuple[str, int]:
    key, _, number = text.partition("=")
    if key not in PROVIDER_APIS or not number.isdigit():
        raise argparse.ArgumentTypeError(
            f"expected PROVIDER=N with PROVIDER in {list(PROVIDER_APIS)}"
        )
    return key, int(number)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--size",
        type=_size,
        action="append",
        default=[],
        help=f"tickets per provider, e.g. enneo=5000 (defaults: {DEFAULT_SIZES})",
    )
    parser.add_argument(
        "--providers", default=",".join(PROVIDER_APIS), help="comma-separated providers to emulate"
    )
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="fraction of requests answered with a fault"
    )
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS))
    parser.add_argument(
        "--mutate-every",
        type=int,
        default=0,
        help="create and update a ticket every K requests per provider",
    )
    parser.add_argument(
        "--no-rate-limits",
        action="store_true",
        help="do not enforce the providers' documented rate limits",
    )
    args = parser.parse_args(argv)
    knobs = Knobs(
        fault_rate=args.fault_rate,
        fault_kinds=tuple(args.fault_kinds.split(",")),
        mutate_every=args.mutate_every,
        rate_limits=not args.no_rate_limits,
    )
    sandbox = build_sandbox(
        seed=args.seed,
        sizes=dict(args.size),
        port=args.port,
        knobs=knobs,
        providers=[p for p in args.providers.split(",") if p],
    )
    print(f"sandbox listening on {sandbox.url}", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
