"""Run the notebooks in JupyterLab, in a headless Chromium, and screenshot them page by page.

Usage (from the repository root, with the project's virtual environment):

    .venv/bin/python tests/browser/run_notebooks.py [NAMES ...] [--out DIR] [--timeout S] [--results PATH]

NAMES are notebook names or globs of notebooks/ (`06_model_size`, `06_model_size.ipynb`, `0[0-3]*`); without
any, every notebooks/*.ipynb runs, in sorted order.

For each notebook the script opens it in JupyterLab, waits for its kernel, runs "Run All Cells" (the Run menu's
command), waits until no cell is queued or running and the kernel is idle, then scrolls the notebook from top to
bottom and saves one screenshot per page as `<out>/<notebook stem>_<nn>.png`. It prints one line per notebook
and writes `<out>/summary.csv` with, per notebook:

- status: `ok`, `error` (a cell raised), `timeout` (still running after --timeout; the kernel is interrupted and
  the screenshots show where it was) or `failed` (the notebook could not be opened or run in the browser);
- error_cells: code cells with an error output (a traceback, shown on a pink background);
- stderr_outputs: outputs written to stderr (warnings, progress bars: also pink, but not errors);
- unexecuted_cells: non-empty code cells left without an execution count (JupyterLab stops a Run All at the
  first error);
- seconds: wall seconds from Run All to the end of the execution;
- first_error: the first error's cell number, exception name and message.

The exit status is 1 when any notebook is not `ok`, 0 otherwise.

The repository's notebooks are never touched: notebooks/ is copied into a temporary folder beside links to the
repository's other top-level folders (results/, runs/, docs/, ...), so that the notebooks' relative paths
(`../results`) resolve as in the repository; `segformer_lab` (installed in editable mode) finds the repository
itself. JupyterLab runs from the interpreter running this script, with a temporary settings folder (all cells
rendered, no windowing, so that every cell is in the page; no news or update notifications) and a temporary
workspace per notebook, on a free port of 127.0.0.1. Server and browser are shut down on exit, errors and
Ctrl-C included.

Requirements: selenium (`pip install -e .[browser]`), a Chromium and its matching chromedriver (Debian's
`chromium` and `chromium-driver` packages by default; see --chromium and --chromedriver).
"""
from __future__ import annotations

import argparse
import csv
import fnmatch
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOKEN = "t"
SERVER_START_TIMEOUT = 180  # seconds for JupyterLab to answer
OPEN_TIMEOUT = 180  # seconds for a notebook to open and its kernel to be idle
POLL = 0.5  # seconds between two looks at the page

# JupyterLab settings, as files of the --LabApp.user_settings_dir folder.
LAB_SETTINGS = {
    # Every cell in the page: 'full'/'contentVisibility' windowing would leave off-screen cells unrendered.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "scrollPastEnd": False},
    # No toasts over the notebook, and no requests to the internet.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True},
}

# --- JavaScript run in the page (JupyterLab exposes its application as window.jupyterapp) --------------------

# Finds the notebook panel of `path` among the main area's widgets.
JS_PANEL = """
const app = window.jupyterapp;
const findPanel = (path) => app && app.shell
    ? Array.from(app.shell.widgets('main')).find(w => w.context && w.context.path === path && w.content)
    : undefined;
"""

# The panel's state: opened, kernel status, cells queued or running ([*] prompts), open dialogs.
JS_STATE = JS_PANEL + """
const panel = findPanel(arguments[0]);
const dialogs = Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.trim().slice(0, 300));
if (!panel) return {found: false, dialogs: dialogs};
const sc = panel.sessionContext;
const kernel = sc && sc.session ? sc.session.kernel : null;
const prompts = Array.from(panel.node.querySelectorAll('.jp-InputPrompt'));
return {
  found: true,
  ready: panel.context.isReady && sc.isReady,
  kernel: kernel ? kernel.status : null,
  running: prompts.filter(p => p.textContent.includes('[*]')).length,
  runAll: window.__runAll || null,
  dialogs: dialogs,
};
"""

# Activates the panel and starts Run All; its promise settles when the execution has ended.
JS_RUN_ALL = JS_PANEL + """
const panel = findPanel(arguments[0]);
app.shell.activateById(panel.id);
panel.content.activate();
const command = app.commands.hasCommand('runmenu:run-all') ? 'runmenu:run-all' : 'notebook:run-all-cells';
window.__runAll = {settled: false};
app.commands.execute(command).then(
  () => { window.__runAll = {settled: true}; },
  (e) => { window.__runAll = {settled: true, error: String(e)}; });
return command;
"""

# Interrupts the kernel of a notebook that ran past its time.
JS_INTERRUPT = JS_PANEL + """
const panel = findPanel(arguments[0]);
const kernel = panel && panel.sessionContext.session ? panel.sessionContext.session.kernel : null;
if (kernel) kernel.interrupt();
"""

# What the cells hold, from the notebook's model (the outputs as saved in an .ipynb).
JS_OUTCOME = JS_PANEL + """
const panel = findPanel(arguments[0]);
let errorCells = 0, stderr = 0, unexecuted = 0, firstError = '';
panel.content.widgets.forEach((cell, i) => {
  const model = cell.model;
  if (model.type !== 'code') return;
  const outputs = model.outputs.toJSON();
  const errors = outputs.filter(o => o.output_type === 'error');
  stderr += outputs.filter(o => o.output_type === 'stream' && o.name === 'stderr').length;
  if (errors.length) {
    errorCells += 1;
    if (!firstError) firstError = `cell ${i + 1}: ${errors[0].ename}: ${errors[0].evalue}`;
  }
  if (model.executionCount === null && model.sharedModel.getSource().trim()) unexecuted += 1;
});
return {errorCells: errorCells, stderr: stderr, unexecuted: unexecuted, firstError: firstError};
"""

# Hides the side panels and deselects the text, and returns the notebook's scroll container's size.
JS_PREPARE_SHOTS = JS_PANEL + """
const panel = findPanel(arguments[0]);
app.shell.collapseLeft();
app.shell.collapseRight();
panel.content.mode = 'command';
if (document.activeElement) document.activeElement.blur();
const node = panel.content.node;
const candidates = [node.querySelector('.jp-WindowedPanel-outer'), node].filter(Boolean);
const scroller = candidates.find(n => n.scrollHeight > n.clientHeight + 1) || candidates[0];
window.__scroller = scroller;
return {height: scroller.scrollHeight, view: scroller.clientHeight};
"""

JS_SCROLL = """
window.__scroller.scrollTop = arguments[0];
return window.__scroller.scrollTop;
"""

# Saves the (temporary) copy, so that leaving the page asks nothing, and shuts its kernel down.
JS_CLOSE = JS_PANEL + """
const done = arguments[arguments.length - 1];
const panel = findPanel(arguments[0]);
if (!panel) { done('no panel'); return; }
panel.context.save()
  .then(() => panel.sessionContext.shutdown())
  .then(() => { panel.dispose(); done('closed'); }, (e) => done(String(e)));
"""


@dataclass
class Outcome:
    notebook: str
    status: str = "failed"
    error_cells: int = 0
    stderr_outputs: int = 0
    unexecuted_cells: int = 0
    seconds: float = 0.0
    screenshots: int = 0
    first_error: str = ""

    def line(self) -> str:
        detail = f"  {self.first_error}" if self.first_error else ""
        return (f"{self.notebook:32s} {self.status:8s} errors {self.error_cells:2d}  stderr {self.stderr_outputs:2d}  "
                f"unexecuted {self.unexecuted_cells:2d}  {self.seconds:7.1f} s  {self.screenshots:2d} shots{detail}")


# --- preparing the notebooks and the server ------------------------------------------------------------------

def select_notebooks(folder: Path, patterns: list[str]) -> list[str]:
    """The notebooks of `folder` named by `patterns` (names or globs, with or without .ipynb, in the order given),
    or all of them, sorted. An unmatched pattern exits with an error."""
    names = sorted(p.name for p in folder.glob("*.ipynb"))
    if not patterns:
        return names
    chosen = []
    for pattern in patterns:
        base = Path(pattern).name
        matches = fnmatch.filter(names, base) or fnmatch.filter(names, base + ".ipynb")
        if not matches:
            sys.exit(f"no notebook matches {pattern!r} in {folder} (notebooks: {', '.join(names)})")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def copy_repository_view(notebooks: Path, work: Path) -> Path:
    """A copy of `notebooks` in work/<its name>, beside links to the repository's other top-level entries
    (results/, runs/, docs/, ...; hidden ones left out), so that the notebooks' relative paths such as
    `../results` read the repository's files. Returns the copy's folder."""
    copy = work / notebooks.name
    shutil.copytree(notebooks, copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for entry in REPO.iterdir():
        if not entry.name.startswith(".") and not (work / entry.name).exists():
            (work / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return copy


def write_lab_settings(folder: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(port: int, path: str, method: str = "GET", timeout: float = 5.0) -> int:
    """The HTTP status of a call to the server's REST API."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return answer.status


class LabServer:
    """JupyterLab serving `root` on 127.0.0.1:`port`; its output goes to `log`."""

    def __init__(self, root: Path, port: int, work: Path, log: Path, results: Path | None):
        self.port, self.log = port, log
        settings, workspaces, runtime = work / "lab-settings", work / "lab-workspaces", work / "jupyter-runtime"
        write_lab_settings(settings)
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime))
        if results is not None:
            env["SEGFORMER_LAB_RESULTS"] = str(results)
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.token={TOKEN}",
                   "--ServerApp.password=", "--allow-root", f"--ServerApp.root_dir={root}",
                   f"--port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
                   "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
                   f"--LabApp.workspaces_dir={workspaces}"]
        self._log_file = open(log, "w")
        # A session of its own: the kernels it starts can be ended with it, and Ctrl-C reaches only this script.
        self.process = subprocess.Popen(command, cwd=root, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                if api(self.port, "/api/status") == 200:
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(POLL)
        raise RuntimeError(f"JupyterLab did not answer on port {self.port} within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        self._log_file.flush()
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Asks the server to shut down (it ends its kernels), then terminates and kills what is left."""
        if self.process.poll() is None:
            try:
                api(self.port, "/api/shutdown", method="POST")
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            for sig, wait in ((None, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                if sig is not None:
                    try:
                        os.killpg(self.process.pid, sig)
                    except ProcessLookupError:
                        break
                try:
                    self.process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Kernels left behind by a server that did not end them share its process group.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        self._log_file.close()


# --- the browser ----------------------------------------------------------------------------------------------

def start_browser(chromium: str, chromedriver: str, width: int, height: int, log: Path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        sys.exit("selenium is missing: pip install -e '.[browser]' (or pip install selenium)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--force-device-scale-factor=1", f"--window-size={width},{height}"):
        options.add_argument(argument)
    # A dialog left open (e.g. 'leave the page?') must not block the next notebook.
    options.set_capability("unhandledPromptBehavior", "accept")
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver, log_output=str(log)), options=options)
    driver.set_window_size(width, height)
    driver.set_script_timeout(60)
    driver.set_page_load_timeout(OPEN_TIMEOUT)
    return driver


def wait_for(driver, name: str, condition, timeout: float, what: str) -> dict:
    """Polls the panel's state until `condition(state)`; raises TimeoutError saying `what` it waited for."""
    end, state = time.monotonic() + timeout, {}
    while time.monotonic() < end:
        state = driver.execute_script(JS_STATE, name) or {}
        if condition(state):
            return state
        time.sleep(POLL)
    dialogs = "; dialog: " + " | ".join(state["dialogs"]) if state.get("dialogs") else ""
    raise TimeoutError(f"{what} not reached within {timeout:.0f} s (kernel {state.get('kernel')}, "
                       f"{state.get('running', '?')} cells running{dialogs})")


def run_notebook(driver, port: int, name: str, number: int, out: Path, timeout: float) -> Outcome:
    outcome = Outcome(name)
    # A workspace of its own: nothing of the previous notebook is restored beside it.
    url = (f"http://127.0.0.1:{port}/lab/workspaces/run-{number}/tree/{urllib.parse.quote(name)}"
           f"?token={TOKEN}")
    driver.get(url)
    wait_for(driver, name, lambda s: s.get("found") and s.get("ready") and s.get("kernel") == "idle",
             OPEN_TIMEOUT, "notebook open with an idle kernel")

    driver.execute_script(JS_RUN_ALL, name)
    start = time.monotonic()
    try:
        # Settled Run All, no [*] prompt, idle kernel; twice in a row, so that a cell just queued is not missed.
        idle_polls = [0]

        def finished(s):
            if s.get("kernel") == "dead":
                raise RuntimeError(f"the kernel is {s.get('kernel')}")
            done = (s.get("runAll") or {}).get("settled") and not s.get("running") and s.get("kernel") == "idle"
            idle_polls[0] = idle_polls[0] + 1 if done else 0
            return idle_polls[0] >= 2

        wait_for(driver, name, finished, timeout, "end of the execution")
        outcome.status = "ok"
    except TimeoutError as e:
        outcome.status, outcome.first_error = "timeout", str(e)
        driver.execute_script(JS_INTERRUPT, name)
        time.sleep(2)
    outcome.seconds = round(time.monotonic() - start, 1)

    found = driver.execute_script(JS_OUTCOME, name)
    outcome.error_cells, outcome.stderr_outputs = found["errorCells"], found["stderr"]
    outcome.unexecuted_cells = found["unexecuted"]
    if outcome.status == "ok" and outcome.error_cells:
        outcome.status, outcome.first_error = "error", found["firstError"]
    outcome.screenshots = screenshots(driver, name, out)
    driver.execute_async_script(JS_CLOSE, name)
    return outcome


def screenshots(driver, name: str, out: Path, overlap: int = 40) -> int:
    """Scrolls the notebook from top to bottom, one window (less `overlap` pixels) at a time, saving
    <out>/<stem>_<nn>.png at each step. Returns how many it saved."""
    stem = Path(name).stem
    for old in out.glob(f"{stem}_[0-9][0-9]*.png"):
        old.unlink()
    size = driver.execute_script(JS_PREPARE_SHOTS, name)
    time.sleep(1)  # the layout settles once the side panels are closed
    size = driver.execute_script(JS_PREPARE_SHOTS, name)
    height, view = size["height"], max(size["view"], 1)
    step = max(view - overlap, 1)
    pages = 1 + max(0, -(-(height - view) // step))
    for page in range(pages):
        driver.execute_script(JS_SCROLL, min(page * step, max(height - view, 0)))
        time.sleep(0.4)
        driver.save_screenshot(str(out / f"{stem}_{page + 1:02d}.png"))
    return pages


# --- main -----------------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="The exit status is 1 when a notebook raised an error, ran past --timeout "
                                       "or could not be run.")
    p.add_argument("names", nargs="*", help="notebooks of --notebooks (names or globs); default: all, sorted")
    p.add_argument("--out", type=Path, help="folder of the screenshots and summary.csv (default: a new temporary "
                                            "folder, printed)")
    p.add_argument("--timeout", type=float, default=600, help="seconds each notebook may run (default 600)")
    p.add_argument("--results", type=Path, help="results folder the notebooks read "
                                                "(sets SEGFORMER_LAB_RESULTS for the server and its kernels)")
    p.add_argument("--notebooks", type=Path, default=REPO / "notebooks", help="folder of the notebooks "
                                                                              "(default: the repository's)")
    p.add_argument("--chromium", default="/usr/bin/chromium", help="Chromium binary (default %(default)s)")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver", help="chromedriver (default %(default)s)")
    p.add_argument("--port", type=int, default=0, help="JupyterLab's port (default: a free one)")
    p.add_argument("--window", default="1400x1000", help="browser window WIDTHxHEIGHT (default %(default)s)")
    p.add_argument("--keep", action="store_true", help="keep the temporary copy of the notebooks (executed and "
                                                       "saved) and the server's log, and print where")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    names = select_notebooks(args.notebooks, args.names)
    width, height = (int(x) for x in args.window.lower().split("x"))
    results = args.results.resolve() if args.results else None
    if results is not None and not results.is_dir():
        sys.exit(f"--results {args.results}: no such folder")
    out = args.out or Path(tempfile.mkdtemp(prefix="notebook-shots-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"screenshots and summary.csv in {out}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="notebook-run-"))
    server = driver = None
    outcomes: list[Outcome] = []
    try:
        root = copy_repository_view(args.notebooks.resolve(), work / "repo")
        port = args.port or free_port()
        server = LabServer(root, port, work, work / "jupyterlab.log", results)
        server.wait_ready()
        driver = start_browser(args.chromium, args.chromedriver, width, height, work / "chromedriver.log")
        for number, name in enumerate(names, 1):
            try:
                outcome = run_notebook(driver, port, name, number, out, args.timeout)
            except Exception as e:  # this notebook could not be run in the browser: go on with the next
                outcome = Outcome(name, status="failed", first_error=f"{type(e).__name__}: {e}".splitlines()[0])
                try:  # what the page shows, if it shows anything
                    outcome.screenshots = screenshots(driver, name, out)
                except Exception as shot:
                    print(f"{name}: no screenshot ({type(shot).__name__})", file=sys.stderr)
            outcomes.append(outcome)
            print(outcome.line(), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except Exception as e:  # no server or no browser: nothing could run
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception as e:
                print(f"closing the browser: {e}", file=sys.stderr)
        if server is not None:
            server.stop()
        if args.keep:
            print(f"notebooks run and the server's log kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    with open(out / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[x.name for x in fields(Outcome)])
        writer.writeheader()
        writer.writerows(asdict(o) for o in outcomes)
    bad = [o for o in outcomes if o.status != "ok"]
    print(f"{len(outcomes) - len(bad)} of {len(names)} notebooks ran without error; summary: {out / 'summary.csv'}")
    return 1 if bad or len(outcomes) < len(names) else 0


if __name__ == "__main__":
    sys.exit(main())
