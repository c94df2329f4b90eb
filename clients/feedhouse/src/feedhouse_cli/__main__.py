import sys

from feedhouse_cli.main import main

sys.exit(main())
