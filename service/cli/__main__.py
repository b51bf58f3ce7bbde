"""`python -m rnnlab.service.cli ...` is the `rnnlab` command."""

from rnnlab.service.cli import main

main()
