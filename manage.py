#!/usr/bin/env python
"""Django's command-line utility for ccportal.

In a checkout with no DATABASE_URL, commands run against the same embedded PostgreSQL and Redis
as `make run` (through ccportal.devstack), so `python manage.py shell` just works. Deployments
set the variables (or CCPORTAL_EMBEDDED=0) and get a clear error for anything missing instead.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ccportal.settings")
    if not os.environ.get("DATABASE_URL") and os.environ.get("CCPORTAL_EMBEDDED", "1") != "0":
        from ccportal.devstack import main as devstack

        os.environ.setdefault("CCPORTAL_PROFILE", "run")
        sys.exit(devstack(["exec", "--", sys.executable, *sys.argv]))
    from django.core.management import execute_from_command_line

    from ccportal.auditing import command_context

    with command_context(sys.argv):  # the audit trail names the command that changed a row
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
