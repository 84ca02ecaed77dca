"""Open a local HTML page in headless Chromium through the DevTools protocol and report what a
reader's browser saw: console errors and uncaught exceptions, any request that would leave
the machine, the size and drawn marks of every chart, and a screenshot.

Used by the report's tests, and to refresh the screenshot kept in ``docs/`` (the top of the
page, 1280 pixels wide):

    python -m cmc_pipeline_tests.headless_chromium REPORT.html docs/report-screenshot.png [MAX_HEIGHT]
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_MISSING = (
    "Chromium is needed to test the HTML report in a real browser and was not found. "
    "Install Debian's package: apt-get update && apt-get install -y chromium"
)
# Without the background-networking and component flags, Chromium keeps trying to reach
# Google's services and floods the log with refused connections on a machine with no network.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

# Each chart's drawn size and the data marks matplotlib drew in it (lines, bars).
CHARTS_JS = """
Array.from(document.querySelectorAll('figure.chart')).map(f => {
  const svg = f.querySelector('svg');
  if (!svg) { return {id: f.id, rendered: false}; }
  const box = svg.getBoundingClientRect();
  const marks = svg.querySelectorAll('[id*="line2d"] path, [id*="line2d"] use, [id*="patch"] path');
  const drawn = Array.from(marks).filter(m => {const b = m.getBBox(); return b.width > 0 || b.height > 0;});
  return {id: f.id, rendered: true, width: box.width, height: box.height, marks: drawn.length,
          texts: svg.querySelectorAll('text').length};
})
"""
HEATMAP_JS = """
Array.from(document.querySelectorAll('table.heatmap tbody tr')).map(tr => ({
  country: tr.querySelector('th').textContent.trim(),
  colours: Array.from(tr.querySelectorAll('td[class^="l"]')).map(td => getComputedStyle(td).backgroundColor),
}))
"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    console_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)
    heatmap_rows: list[dict] = field(default_factory=list)
    title: str = ""
    screenshot_png: bytes = b""


def visit(
    page: Path,
    *,
    width: int = 1280,
    full_page: bool = True,
    max_height: int | None = None,
    timeout: float = 60.0,
) -> PageVisit:
    """Load ``page`` in a fresh headless Chromium and report on it; the screenshot is the first
    screen, or the whole page (up to ``max_height`` pixels) with ``full_page``."""
    binary = chromium_path()
    if binary is None:
        raise FileNotFoundError(CHROMIUM_MISSING)
    with tempfile.TemporaryDirectory(prefix="cmc-chromium-") as profile:
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = _devtools_port(Path(profile), process, timeout)
            url = Path(page).resolve().as_uri()
            return asyncio.run(_visit(port, url, width, full_page, max_height, timeout))
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float) -> int:
    """Chromium writes the port it chose into the profile folder once DevTools listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Chromium exited with status {process.returncode} before DevTools started")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().splitlines()[0])
        time.sleep(0.1)
    raise TimeoutError(f"Chromium's DevTools did not start within {timeout:.0f}s")


async def _visit(
    port: int, url: str, width: int, full_page: bool, max_height: int | None, timeout: float
) -> PageVisit:
    from websockets.asyncio.client import connect

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.load(response)
    target = next(t for t in targets if t["type"] == "page")
    result = PageVisit()
    async with connect(target["webSocketDebuggerUrl"], max_size=None) as socket:
        session = _Session(socket, result)
        listener = asyncio.create_task(session.listen())
        try:
            for domain in ("Runtime", "Log", "Network", "Page"):
                await session.call(f"{domain}.enable")
            await session.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            )
            await session.call("Page.navigate", {"url": url})
            # A late load event of the initial blank page must not count as the report's.
            while True:
                await asyncio.wait_for(session.loaded.wait(), timeout)
                session.loaded.clear()
                if await session.evaluate("document.readyState + ' ' + location.href") == f"complete {url}":
                    break
            result.title = await session.evaluate("document.title")
            result.charts = await session.evaluate(CHARTS_JS)
            result.heatmap_rows = await session.evaluate(HEATMAP_JS)
            screenshot = {"format": "png"}
            if full_page:
                metrics = await session.call("Page.getLayoutMetrics")
                height = metrics["cssContentSize"]["height"]
                if max_height:
                    height = min(height, max_height)
                screenshot.update(
                    captureBeyondViewport=True,
                    clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
                )
            shot = await session.call("Page.captureScreenshot", screenshot)
            result.screenshot_png = b64decode(shot["data"])
        finally:
            listener.cancel()
    return result


class _Session:
    """Numbered DevTools calls and the page events that matter to a reader."""

    def __init__(self, socket, result: PageVisit):
        self.socket = socket
        self.result = result
        self.loaded = asyncio.Event()
        self.pending: dict[int, asyncio.Future] = {}
        self.next_id = 0

    async def call(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        return await future

    async def evaluate(self, expression: str):
        reply = await self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise RuntimeError(f"evaluating in the page failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def listen(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                future = self.pending.pop(message["id"])
                if "error" in message:
                    future.set_exception(RuntimeError(f"DevTools error: {message['error']}"))
                else:
                    future.set_result(message.get("result", {}))
                continue
            self._event(message["method"], message.get("params", {}))

    def _event(self, method: str, params: dict) -> None:
        if method == "Page.loadEventFired":
            self.loaded.set()
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            self.result.console_errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            self.result.console_errors.append(f"Uncaught: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.result.console_errors.append(
                f"{entry['source']}: {entry['text']} {entry.get('url', '')}".strip()
            )
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith(LOCAL_SCHEMES):
                self.result.external_requests.append(url)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    page, screenshot = Path(argv[0]), Path(argv[1])
    seen = visit(page, width=1280, full_page=True, max_height=int(argv[2]) if len(argv) == 3 else None)
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    screenshot.write_bytes(seen.screenshot_png)
    print(f"{screenshot}: {len(seen.screenshot_png):,} bytes; {len(seen.charts)} charts")
    for problem in seen.console_errors + seen.external_requests:
        print(f"  {problem}")
    return 1 if seen.console_errors or seen.external_requests else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
