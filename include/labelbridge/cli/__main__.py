"""``python -m labelbridge.cli``, as the ``labelbridge`` script."""

from __future__ import annotations

import sys

from labelbridge.cli import main

if __name__ == "__main__":  # importing it (tests walk every module) runs nothing
    sys.exit(main())
