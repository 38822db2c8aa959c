"""Entry point: ``python -m parley.llm.scripted_server --script '<json>'``."""

from parley.llm.scripted_server.process import main

raise SystemExit(main())
