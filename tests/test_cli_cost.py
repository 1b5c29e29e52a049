"""A short command such as `account show` must not pay for heavy imports.

The figures (wall time, peak memory) are measured by bench/run; this only
keeps out the libraries that were once loaded by every command.
"""

import subprocess
import sys

# Each is needed by one or two commands only, which import it themselves.
HEAVY = (
    "dns.resolver",
    "httpx",
    "trio",
    "passlib",
    "email_validator",
    "jinja2",
    "cryptography",
)


def test_the_cli_loads_no_heavy_library_up_front():
    probe = (
        "import sys, exteri_mail.cli; "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == []
