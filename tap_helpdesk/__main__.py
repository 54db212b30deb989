"""`python -m tap_helpdesk` runs the tap's command line."""

from tap_helpdesk.cli import main

main()
