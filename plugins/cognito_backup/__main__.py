"""`python -m cognito_backup status` (see cognito_backup.status)."""

import sys

from cognito_backup.status import main

sys.exit(main())
