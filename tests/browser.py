"""Headless Chromium driven over the DevTools protocol on a pipe, with the standard library only.

Chromium started with ``--remote-debugging-pipe`` reads protocol commands on file descriptor 3
and writes replies and events on descriptor 4, each message a JSON object ended by a NUL byte.
That gives the real DOM of the unmodified page (``Runtime.evaluate``) and a full-page screenshot
(``Page.captureScreenshot``) from one page load, with no websocket package and nothing injected
into the page under test.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
    "--hide-scrollbars",
    "--mute-audio",
    "--remote-debugging-pipe",
)
REQUIRE_BROWSER_ENV = "CELEBA_GENDER_REQUIRE_BROWSER"
CHILD_READ_FD = 3  # Chromium reads commands here ...
CHILD_WRITE_FD = 4  # ... and writes replies and events here.


class BrowserError(RuntimeError):
    """Chromium did not start, answered with an error, or did not answer in time."""


def find_chromium() -> str | None:
    """Path of a Chromium (or Chrome) executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium(require_env: str = REQUIRE_BROWSER_ENV) -> str:
    """Chromium's path; without one, skip the test, or fail it when ``require_env`` is set."""
    executable = find_chromium()
    if executable is None:
        message = "headless Chromium not found on PATH (Debian: apt-get install chromium)"
        if os.environ.get(require_env):
            pytest.fail(f"{message}; {require_env} is set, so the browser tests must run")
        pytest.skip(message)
    return executable


@dataclass
class Process:
    """A child started with ``os.posix_spawn`` in its own process group."""

    pid: int
    returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds; the exit code, or None if it still runs."""
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.returncode

    def kill_group(self) -> None:
        """SIGKILL the process and the helpers it started (its process group), then reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.wait(timeout=10)


@dataclass
class Chromium:
    """A running headless Chromium and its DevTools pipe; use as a context manager."""

    process: Process
    commands: int  # parent's write end (Chromium's fd 3)
    replies: int  # parent's read end (Chromium's fd 4)
    log_path: Path
    pending: bytes = b""
    next_id: int = 1
    events: list[dict] = field(default_factory=list)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self, method: str, params: dict | None = None, session: str | None = None, timeout=30.0
    ) -> dict:
        """Send one command and return its ``result``; raise BrowserError on an error reply."""
        message_id = self.next_id
        self.next_id += 1
        message = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self.commands, json.dumps(message).encode() + b"\0")
        except BrokenPipeError as error:
            raise BrowserError(f"Chromium exited before {method}\n{self.log_tail()}") from error
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline, method)
            if reply.get("id") != message_id:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise BrowserError(f"Chromium: {method} failed: {reply['error']}")
            return reply.get("result", {})

    def _read_message(self, deadline: float, waiting_for: str) -> dict:
        while b"\0" not in self.pending:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.replies], [], [], max(left, 0))
            if not ready:
                raise BrowserError(
                    f"Chromium: no reply to {waiting_for} in time\n{self.log_tail()}"
                )
            chunk = os.read(self.replies, 1 << 20)
            if not chunk:
                raise BrowserError(
                    f"Chromium exited while waiting for {waiting_for}\n{self.log_tail()}"
                )
            self.pending += chunk
        raw, _, self.pending = self.pending.partition(b"\0")
        return json.loads(raw)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of Chromium's stderr, for error messages."""
        try:
            return "Chromium stderr (tail):\n" + self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no Chromium log)"

    def close(self) -> None:
        """Ask Chromium to quit, then make sure it is gone and the pipe is closed."""
        if self.process.poll() is None:
            with contextlib.suppress(BrowserError, OSError):
                self.send("Browser.close", timeout=5)
            if self.process.wait(timeout=10) is None:
                self.process.kill_group()
        for fd in (self.commands, self.replies):
            with contextlib.suppress(OSError):
                os.close(fd)


def launch(executable: str, profile_dir: Path, log_path: Path) -> Chromium:
    """Start headless Chromium with an empty profile in ``profile_dir``; its output to ``log_path``."""
    profile_dir.mkdir(parents=True, exist_ok=True)
    child_read, parent_write = os.pipe()
    parent_read, child_write = os.pipe()
    # Copies numbered 10 or more, so that the dup2 onto 3 and 4 below cannot overwrite either;
    # close-on-exec, so that only descriptors 0-4 reach Chromium.
    high_read = fcntl.fcntl(child_read, fcntl.F_DUPFD_CLOEXEC, 10)
    high_write = fcntl.fcntl(child_write, fcntl.F_DUPFD_CLOEXEC, 10)
    argv = [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}", "about:blank"]
    try:
        pid = os.posix_spawn(
            executable,
            argv,
            os.environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    str(log_path),
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                    0o644,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
                (os.POSIX_SPAWN_DUP2, high_read, CHILD_READ_FD),
                (os.POSIX_SPAWN_DUP2, high_write, CHILD_WRITE_FD),
            ],
            setpgroup=0,  # its own process group, so that a hung browser can be killed whole
        )
    except OSError:
        os.close(parent_write)
        os.close(parent_read)
        raise
    finally:
        for fd in (child_read, child_write, high_read, high_write):
            os.close(fd)
    return Chromium(Process(pid), commands=parent_write, replies=parent_read, log_path=log_path)


def open_page(browser: Chromium, url: str, width: int, height: int, timeout=60.0) -> str:
    """Open ``url`` in a new tab of ``width`` x ``height`` CSS px; wait for its load; return the session."""
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    navigation = browser.send("Page.navigate", {"url": url}, session)
    if navigation.get("errorText"):
        raise BrowserError(f"Chromium could not open {url}: {navigation['errorText']}")
    loaded = "document.URL !== 'about:blank' && document.readyState === 'complete'"
    wait_for(browser, session, loaded, timeout)
    return session


def evaluate(browser: Chromium, session: str, expression: str):
    """The JSON value of a JavaScript expression in the page (promises are awaited)."""
    result = browser.send(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": True},
        session,
    )
    if "exceptionDetails" in result:
        raise BrowserError(f"JavaScript error in {expression[:80]!r}: {result['exceptionDetails']}")
    return result["result"].get("value")


def wait_for(browser: Chromium, session: str, expression: str, timeout=30.0) -> object:
    """Poll a JavaScript expression until it is truthy; return its value (BrowserError on timeout)."""
    deadline = time.monotonic() + timeout
    while not (value := evaluate(browser, session, expression)):
        if time.monotonic() > deadline:
            raise BrowserError(f"still false after {timeout:g} s: {expression[:200]}")
        time.sleep(0.2)
    return value


def screenshot(
    browser: Chromium, session: str, out_png: Path, max_height: int | None = None
) -> Path:
    """Save a PNG of the page, at the window's width, to ``out_png``.

    The picture covers the whole document, or only its top ``max_height`` CSS px.
    """
    width, height = evaluate(
        browser,
        session,
        "[document.documentElement.clientWidth, Math.ceil(document.documentElement.scrollHeight)]",
    )
    if max_height is not None:
        height = min(height, max_height)
    params = {
        "format": "png",
        "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
    }
    data = browser.send("Page.captureScreenshot", params, session, timeout=120)["data"]
    tmp = out_png.with_name(f".{out_png.name}.tmp")
    tmp.write_bytes(base64.b64decode(data))
    tmp.replace(out_png)
    return out_png
