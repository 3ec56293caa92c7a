"""Rendered views of archived pages (screenshots, PDF) made in headless Chromium from the archive alone.

The one package that drives a browser; it needs the optional extra ``morgue[render]`` (Playwright) and a
Chromium (Debian's ``chromium``). Nothing else in morgue imports it unless asked to render.
"""

from render.browser import INSTALL_HINT, BrowserSettings, RenderUnavailable

__all__ = ["BrowserSettings", "RenderUnavailable", "INSTALL_HINT"]
