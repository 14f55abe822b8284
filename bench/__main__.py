"""``python -m bench [--quick]``: run every benchmark and write docs/benchmarks.md."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bench import approvals, backup, ca, flow, internals, keystore, ledger, machines, render, sign
from bench.report import document

BENCHMARKS = {
    "keystore": keystore.run,
    "ledger": ledger.run,
    "ca": ca.run,
    "sign": sign.run,
    "approvals": approvals.run,
    "flow": flow.run,
    "machines": machines.run,
    "internals": internals.run,
    "render": render.run,
    "backup": backup.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short rounds, for a smoke run")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("only", nargs="*", choices=[*BENCHMARKS, []], help="benchmarks to run (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    sections = []
    for name, run in BENCHMARKS.items():
        if args.only and name not in args.only:
            continue
        print(f"bench: {name} ...", flush=True)
        section = run(args.quick)
        print(section.body, flush=True)
        sections.append(section)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(document(sections))
    print(f"bench: wrote {args.out}")


if __name__ == "__main__":
    main()
