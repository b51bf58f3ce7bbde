"""`python -m service.cli ...` is the `rnnlab` command."""

from service.cli import main

main()
