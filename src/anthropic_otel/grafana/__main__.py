"""`python -m anthropic_otel.grafana generate …` (the same as `anthropic-otel grafana generate …`)."""

import sys

from .cli import main

sys.exit(main())
