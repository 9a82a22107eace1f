"""`python -m geoinfer_workflows.cli`: the same command line as `geoinfer-workflows`."""

import sys

from geoinfer_workflows.cli import main

sys.exit(main())
