"""``python -m thermal_perception``: the thermal-perception command."""

import sys

from thermal_perception.cli import main

sys.exit(main())
