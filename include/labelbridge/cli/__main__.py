"""``python -m labelbridge.cli``, as the ``labelbridge`` script."""

from __future__ import annotations

import sys

from labelbridge.cli import main

sys.exit(main())
