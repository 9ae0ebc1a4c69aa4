"""`python -m services.cli`: the operator CLI without the installed `cs` script."""

import sys

from services.cli.main import main

sys.exit(main())
