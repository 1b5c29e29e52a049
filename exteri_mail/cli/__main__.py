"""`python -m exteri_mail.cli`: the same command as `exteri-mail`."""

from . import main

main()
