"""ansible-lint's production profile (its strictest) passes on the roles."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_roles_and_site_pass_the_production_profile():
    result = subprocess.run(
        [
            str(BIN / "ansible-lint"),
            "--offline",
            "--profile",
            "production",
            "--nocolor",
            "site.yml",
            "roles/",
        ],
        cwd=ROOT,
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stderr


def test_site_parses_with_both_example_inventories():
    for inventory in ("inventory/single/hosts.yml", "inventory/split/hosts.yml"):
        result = subprocess.run(
            [
                str(BIN / "ansible-playbook"),
                "--syntax-check",
                "-i",
                inventory,
                "site.yml",
            ],
            cwd=ROOT,
            capture_output=True,
            check=False,
            text=True,
            timeout=120,
            env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
        )

        assert result.returncode == 0, inventory + result.stdout + result.stderr
