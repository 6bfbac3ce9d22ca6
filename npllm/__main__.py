"""`python -m npllm`: the same as the `npllm` command."""

import sys

from npllm.cli import main

sys.exit(main())
