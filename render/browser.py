"""Headless Chromium through Playwright, set up so that a page renders the same way every time and never
reaches the network.

Everything that varies between hosts or runs is pinned: viewport and device scale, time zone and locale,
light colour scheme, reduced motion, no scroll bars, sRGB, no font hinting. The host resolver maps every
name to nothing, so even a request the interceptor missed cannot leave the machine, and service workers
are blocked (Playwright's routes do not see what a service worker answers).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["BrowserSettings", "RenderUnavailable", "Chromium", "default_executable", "INSTALL_HINT"]

INSTALL_HINT = ("morgue render needs Playwright and Chromium: pip install 'morgue[render]' and "
                "apt-get install chromium fonts-liberation (or pass --chromium PATH)")

#: Chromium switches: no network, no background services, no lazy loading, stable pixels.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--disable-lazy-loading",
    "--disable-features=LazyFrameLoading,LazyImageLoading,PaintHolding",
    "--font-render-hinting=none", "--force-color-profile=srgb", "--hide-scrollbars",
    "--disable-partial-raster", "--disable-skia-runtime-opts", "--run-all-compositor-stages-before-draw",
]


class RenderUnavailable(RuntimeError):
    """Playwright or Chromium is missing; the message says how to install them."""


def default_executable() -> Path:
    """``$MORGUE_CHROMIUM``, else Debian's ``/usr/bin/chromium``, else a ``chromium`` on PATH."""
    if os.environ.get("MORGUE_CHROMIUM"):
        return Path(os.environ["MORGUE_CHROMIUM"])
    debian = Path("/usr/bin/chromium")
    if debian.exists():
        return debian
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else debian


@dataclass(frozen=True)
class BrowserSettings:
    """What a render's picture depends on; recorded in every renderinfo record."""

    executable: Path = field(default_factory=default_executable)
    width: int = 1280
    height: int = 720
    device_scale_factor: float = 1.0
    timeout_s: float = 30.0  # per page: loading, settling and taking the views
    full_page_max_height: int = 16384  # Chromium's own limit for one bitmap
    args: tuple[str, ...] = tuple(CHROMIUM_ARGS)

    def context_options(self) -> dict[str, Any]:
        return {
            "viewport": {"width": self.width, "height": self.height},
            "device_scale_factor": self.device_scale_factor, "service_workers": "block",
            "reduced_motion": "reduce", "color_scheme": "light", "locale": "en-US", "timezone_id": "UTC",
            "accept_downloads": False, "java_script_enabled": True,
        }

    def describe(self) -> dict[str, Any]:
        return {"viewport": [self.width, self.height], "device_scale_factor": self.device_scale_factor,
                "timeout_s": self.timeout_s, "args": list(self.args)}


class Chromium:
    """One Playwright driver and one Chromium, relaunched when the browser dies (``ensure``)."""

    def __init__(self, settings: BrowserSettings) -> None:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            raise RenderUnavailable(INSTALL_HINT + " (Playwright is not installed)") from None
        if not settings.executable.exists():
            raise RenderUnavailable(INSTALL_HINT + f" ({settings.executable} does not exist)")
        self.settings = settings
        self._manager = sync_playwright()
        self._playwright = self._manager.start()
        self.browser: Any = None
        self.launches = 0
        self.ensure()

    @property
    def version(self) -> str:
        return str(self.browser.version) if self.browser is not None else "unknown"

    @staticmethod
    def playwright_version() -> str:
        try:
            return metadata.version("playwright")
        except metadata.PackageNotFoundError:
            return "unknown"

    def ensure(self) -> Any:
        """The running browser, launched again if it has died (crashed, killed)."""
        if self.browser is not None and self.browser.is_connected():
            return self.browser
        if self.browser is not None:
            try:
                self.browser.close()
            except Exception:  # noqa: BLE001 - a dead browser may fail to close in any way
                pass
        try:
            self.browser = self._playwright.chromium.launch(
                executable_path=str(self.settings.executable), args=list(self.settings.args), headless=True)
        except Exception as exc:  # playwright.sync_api.Error, with Chromium's own message
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RenderUnavailable(f"cannot start {self.settings.executable}: {first}") from None
        self.launches += 1
        return self.browser

    def relaunch(self) -> Any:
        """A fresh browser: after a render timeout the page's renderer may still be spinning in a script
        that never ends (closing its context does not stop it at once), and would starve the next page."""
        try:
            if self.browser is not None and self.browser.is_connected():
                self.browser.close()
        except Exception:  # noqa: BLE001 - a wedged browser may fail to close in any way
            pass
        self.browser = None
        return self.ensure()

    def new_context(self) -> Any:
        return self.ensure().new_context(**self.settings.context_options())

    def alive(self) -> bool:
        return self.browser is not None and self.browser.is_connected()

    def close(self) -> None:
        try:
            if self.browser is not None and self.browser.is_connected():
                self.browser.close()
        finally:
            self._manager.__exit__(None, None, None)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
