"""`python -m orchestrator` runs the `deepthink` command."""

from orchestrator.cli import main

raise SystemExit(main())
