#!/usr/bin/env python3
"""Django's own manage.py for the test project (tests/django/run_flow.py drives it)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
