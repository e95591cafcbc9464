"""`python -m vipet`: the same entry as the `vipet` command, inside the CLI's error boundary."""

from vipet.cli import main

main()
