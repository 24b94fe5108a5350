"""A minimal headless-Chromium driver over the Chrome DevTools Protocol, for the gallery's
browser test and its README screenshot.

It uses aiohttp's websocket client (a dev dependency), so no Playwright download is needed:
the system Chromium (Debian package `chromium`) is enough. The browser runs in its own
process group with a throw-away profile, listens on 127.0.0.1 only, and is stopped by
that process group, never by name.

    python -m goose_assets_tests.chromium_cdp PAGE.html OUT.png [--width 1280 --height 1500]
        [--click CSS_SELECTOR ...]   (default: the first task's "reveal answer" button)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage",
    "--hide-scrollbars", "--mute-audio", "--no-default-browser-check",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
)


# a gallery page is ready once its script has rendered; the index has no script
PAGE_READY = ("document.readyState === 'complete' && "
              "(!document.getElementById('gallery-data') || document.body.dataset.ready === 'true')")


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str | None:
    """$GOOSE_CHROMIUM, else the first Chromium on PATH."""
    explicit = os.environ.get("GOOSE_CHROMIUM", "")
    if explicit:
        return explicit if Path(explicit).exists() else None
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@contextmanager
def running_chromium(binary: str, start_timeout_s: float = 60.0) -> Iterator[int]:
    """Start headless Chromium on a free loopback port; yield that port; stop its process
    group on exit. Port 0 lets Chromium pick the port and report it in DevToolsActivePort,
    so there is no race with another process grabbing a port we picked."""
    with tempfile.TemporaryDirectory(prefix="goose-chromium-") as profile:
        proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            yield _devtools_port(proc, Path(profile) / "DevToolsActivePort", start_timeout_s)
        finally:
            _stop_process_group(proc)


def _devtools_port(proc: subprocess.Popen[bytes], port_file: Path, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise BrowserError(f"chromium exited with {proc.returncode}: {err}")
        lines = port_file.read_text().splitlines() if port_file.exists() else []
        if lines and lines[0].strip().isdigit():
            return int(lines[0])
        time.sleep(0.1)
    raise BrowserError(f"chromium did not open its DevTools port within {timeout_s:.0f}s")


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    if proc.stderr:
        proc.stderr.close()


class Page:
    """One browser tab: send CDP commands, keep every event for later inspection."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            future = self._pending.pop(data.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(data)
            elif "method" in data:
                self.events.append(data)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError("DevTools connection closed"))

    async def send(self, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self.ws.send_str(json.dumps({"id": message_id, "method": method, "params": params or {}}))
        reply = await asyncio.wait_for(future, timeout_s)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_until(self, expression: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not await self.evaluate(expression):
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for {expression!r}")
            await asyncio.sleep(0.05)

    async def navigate(self, url: str, ready_expression: str, timeout_s: float = 60.0) -> None:
        await self.send("Page.navigate", {"url": url})
        await self.wait_until(f"location.href === {json.dumps(url)} && ({ready_expression})", timeout_s)

    async def click(self, selector: str) -> None:
        """A real mouse click at the element's centre (after scrolling it into view), so
        the test exercises hit-testing and event wiring the way a user does."""
        rect = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
        )
        if rect is None:
            raise BrowserError(f"no element matches {selector!r}")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent",
                            {"type": kind, "x": rect["x"], "y": rect["y"], "button": "left", "clickCount": 1})

    async def set_viewport(self, width: int, height: int) -> None:
        await self.send("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    async def screenshot(self) -> bytes:
        result = await self.send("Page.captureScreenshot", {"format": "png"})
        return base64.b64decode(result["data"])

    def events_named(self, method: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["method"] == method]

    async def close(self) -> None:
        await self.ws.close()
        await self._reader


@asynccontextmanager
async def open_page(port: int) -> AsyncIterator[Page]:
    """Attach to the browser's first tab with the domains the tests observe enabled."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        async with http.ws_connect(ws_url, max_msg_size=0) as ws:
            page = Page(ws)
            for domain in ("Page", "Runtime", "Network", "Log"):
                await page.send(f"{domain}.enable")
            try:
                yield page
            finally:
                await page.close()


async def _screenshot(html_path: Path, out: Path, width: int, height: int, clicks: list[str]) -> None:
    binary = find_chromium()
    if binary is None:
        raise BrowserError("no chromium on PATH (apt-get install chromium)")
    with running_chromium(binary) as port:
        async with open_page(port) as page:
            await page.set_viewport(width, height)
            await page.navigate(html_path.resolve().as_uri(), PAGE_READY)
            for selector in clicks:
                await page.click(selector)
            await page.evaluate("window.scrollTo(0, 0)")
            out.write_bytes(await page.screenshot())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshot a gallery page with headless Chromium.")
    parser.add_argument("page", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1500)
    parser.add_argument("--click", action="append", default=None, metavar="CSS_SELECTOR",
                        help="click these elements in order before the screenshot (repeatable)")
    args = parser.parse_args(argv)
    clicks = ["#tasks .task .reveal"] if args.click is None else args.click
    asyncio.run(_screenshot(args.page, args.out, args.width, args.height, clicks))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
