import sys

from phonectl.cli import main

sys.exit(main())
