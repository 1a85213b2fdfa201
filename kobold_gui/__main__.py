"""`python -m kobold_gui` opens the window."""

from .app import main

raise SystemExit(main())
