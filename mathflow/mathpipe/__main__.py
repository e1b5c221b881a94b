"""``python -m mathflow.mathpipe FILE [--json] [--validate] [--set KEY=VALUE] [--tracking-uri URI]``."""

from __future__ import annotations

import argparse
import sys

from mathflow.errors import MathflowError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mathflow.mathpipe", description="Run a math pipeline.")
    parser.add_argument("file")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--validate", action="store_true", help="only validate and describe the pipeline")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tracking-uri", default=None)
    parser.add_argument("--experiment", default=None)
    args = parser.parse_args(argv)

    from mathflow.config import ConfigError
    from mathflow.mathpipe.runner import run_math, to_json, validate_math

    try:
        if args.validate:
            print(validate_math(args.file, args.overrides))
            return 0
        result = run_math(
            args.file, args.overrides, tracking_uri=args.tracking_uri, experiment=args.experiment, quiet=args.json
        )
    except ConfigError as exc:
        print(exc.format(), file=sys.stderr)
        return 2
    except MathflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(to_json(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
