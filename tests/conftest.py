"""Fixtures shared by the test suite: a real demo news site in a subprocess, the morgue CLI in a subprocess,
and the location of ../shared for the quality checks marked ``shared``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from morgue.demo_server import DEFAULT_ROOT

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """A pytest outside morgue's virtualenv stops here, saying so, instead of at a test module's import."""
    import importlib.util

    missing = [name for name in ("scrapy", "warcio", "trafilatura", "datasette", "pytest_timeout")
               if importlib.util.find_spec(name) is None]
    if missing:
        raise pytest.UsageError(
            f"this Python ({sys.executable}) lacks morgue's test dependencies ({', '.join(missing)}): "
            "run the tests inside the virtualenv the README sets up (. .venv/bin/activate, then "
            "pip install -e '.[test]' && pytest)")


def shared_dir() -> Path | None:
    """``$MORGUE_SHARED`` or ``../shared`` beside the repository, if present."""
    candidate = Path(os.environ.get("MORGUE_SHARED") or REPO.parent / "shared")
    return candidate if candidate.is_dir() else None


@pytest.fixture
def shared() -> Path:
    """../shared for quality checks; skipped in a user's clone, an error in CI (MORGUE_REQUIRE_SHARED=1)."""
    path = shared_dir()
    if path is None:
        if os.environ.get("MORGUE_REQUIRE_SHARED") == "1":
            pytest.fail("../shared is required here (MORGUE_REQUIRE_SHARED=1) but missing")
        pytest.skip("../shared is not present (quality checks run in CI)")
    return path


@dataclass
class SiteProcess:
    """A demo site served by ``python -m morgue.demo_server`` in a subprocess."""

    root: Path
    base_url: str
    log: Path
    process: subprocess.Popen[str]

    def requests(self) -> list[dict[str, object]]:
        import json

        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def url(self, path: str) -> str:
        return self.base_url + path


def start_site(root: Path, log: Path) -> SiteProcess:
    return start_server(["morgue.demo_server", "--root", str(root), "--port", "0"], root, log)


def start_server(module_args: list[str], root: Path, log: Path) -> SiteProcess:
    """``python -m MODULE ARGS --log LOG``, a server that prints ``READY URL`` once it listens."""
    process = subprocess.Popen([sys.executable, "-m", *module_args, "--log", str(log)],
                               stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"{module_args[0]} did not start: {line!r}")
    return SiteProcess(root=root, base_url=line.split(" ", 1)[1], log=log, process=process)


@pytest.fixture
def demo_site(tmp_path: Path) -> Iterator[SiteProcess]:
    """A private copy of the demo site (tests may edit it), served over real HTTP on 127.0.0.1."""
    root = tmp_path / "site"
    shutil.copytree(DEFAULT_ROOT, root)
    site = start_site(root, tmp_path / "requests.jsonl")
    try:
        yield site
    finally:
        site.process.terminate()
        site.process.wait(timeout=10)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_morgue(*args: str, cwd: Path | None = None, timeout: float = 240, env: dict[str, str] | None = None
               ) -> Result:
    """Run the real ``morgue`` command line in a subprocess (a Twisted reactor runs once per process)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    completed = subprocess.run(
        [sys.executable, "-m", "morgue.cli", *args], capture_output=True, text=True, timeout=timeout,
        cwd=cwd or REPO, env=full_env,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


#: The demo site's articles are dated 16 October - 28 November 2026 (and its files are not shifted to
#: "today" unless a test asks for it): tests that need re-checks derive their windows from these dates.
DEMO_OLDEST = datetime(2026, 10, 16, tzinfo=UTC)


def window_back_to(moment: datetime) -> str:
    """A ``recrawl_within`` / ``since`` duration reaching from now back to ``moment``, whatever the date:
    the demo site's dates stay put while the calendar moves on."""
    seconds = int((datetime.now(UTC) - moment).total_seconds())
    assert seconds > 0, f"this test needs a clock after {moment.isoformat()}"
    return f"{seconds}s"


def write_seed(path: Path, base_url: str, name: str = "gazette", extra: str = "",
               fresh_after: datetime | None = None) -> Path:
    """A seed file for the demo site served at ``base_url``. Articles published after ``fresh_after``
    are re-checked by a re-crawl (``recrawl_within`` reaches back to it); the default is 3 days."""
    recrawl_within = "3d" if fresh_after is None else window_back_to(fresh_after)
    path.write_text(
        f'name = "{name}"\n'
        f'start_urls = ["{base_url}/", "{base_url}/news/", "{base_url}/sport/", "{base_url}/culture/"]\n'
        f'sitemaps = ["{base_url}/sitemap_index.xml"]\n'
        f'feeds = ["{base_url}/feed.xml"]\n'
        'deny = ["/(tag|author)/"]\n'
        'every = "6h"\n'
        f'recrawl_within = "{recrawl_within}"\n'
        f"{extra}"
        "\n[settings]\nDOWNLOAD_DELAY = 0\nAUTOTHROTTLE_ENABLED = false\n",
        encoding="utf-8",
    )
    return path


@contextmanager
def serve_reading_room(data: Path) -> Iterator[str]:
    """The reading room of ``data`` served by uvicorn on 127.0.0.1 in a thread, as ``morgue serve`` serves
    it; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    from archive.reading_room import make_datasette

    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_datasette(data).app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.025)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
