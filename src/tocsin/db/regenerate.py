"""Regenerate the initial migration from the models (only until the first release).

Run with `make migration`. Before 1.0 the schema lives in one initial revision, rebuilt from the
models against an empty SQLite database so that it stays dialect-neutral.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from tocsin.db.migrate import MIGRATIONS, alembic_config


def main() -> None:
    versions = MIGRATIONS / "versions"
    for old in versions.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        # Later hand-written revisions (triggers, data) step aside while 0001 is rebuilt.
        parked = Path(tmp) / "parked"
        parked.mkdir()
        later = [p for p in versions.glob("*.py") if not p.name.startswith("0001_")]
        for path in later:
            shutil.move(path, parked / path.name)
        try:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'empty.db'}"
            cfg = alembic_config(url)
            command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
        finally:
            for path in later:
                shutil.move(parked / path.name, path)
    created = next(versions.glob("0001_*.py"))
    target = versions / "0001_initial_schema.py"
    created.rename(target)
    text = target.read_text().replace("Revises: \n", "Revises:\n")
    target.write_text(text)
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(target)], check=False)
    subprocess.run([sys.executable, "-m", "ruff", "check", "-q", "--fix", str(target)], check=False)
    print(f"wrote {versions / '0001_initial_schema.py'}")


if __name__ == "__main__":
    main()
