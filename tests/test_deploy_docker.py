"""docker/ without a Docker engine.

The image runs docker/apply, which runs `exteri-mail deploy` with the
container's inventory and variables: that playbook run must parse, and
every file the Dockerfile and the scripts name must exist. Then the image
is built from the Dockerfile as written and started, with buildah in
namespaces of its own (docker/build-without-engine), and mail must flow
through it.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
BIN = Path(sys.executable).parent


def test_the_playbook_run_of_the_image_passes_syntax_check():
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "--syntax-check",
            "-i",
            str(DOCKER / "inventory.yml"),
            "-e",
            f"@{DOCKER / 'vars.yml'}",
            str(ROOT / "site.yml"),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_files_named_by_the_image_exist_in_the_repository():
    text = "\n".join(
        (DOCKER / name).read_text() for name in ("Dockerfile", "apply", "entrypoint")
    )
    named = set(re.findall(r"/srv/exteri-mail/([\w./-]+)", text))

    assert named >= {
        "docker/apply",
        "docker/entrypoint",
        "docker/inventory.yml",
        "docker/vars.yml",
    }
    assert [n for n in named if not (ROOT / n).exists()] == []
    assert os.access(DOCKER / "apply", os.X_OK)
    assert os.access(DOCKER / "entrypoint", os.X_OK)


def test_the_image_builds_starts_and_delivers_mail():
    result = subprocess.run(
        ["bash", str(DOCKER / "build-without-engine")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        text=True,
        timeout=1800,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "mail flows (account created, SMTP in, IMAP out)" in result.stdout
