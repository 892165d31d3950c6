"""Real-browser test of the playground page (``make test-browser`` runs tools/test_browser.sh).

Starts Voilà on 127.0.0.1 (a free port), opens the page in the system Chromium with
Playwright (``executable_path``: no browser download), types a Chinese prompt, clicks
Generate, waits for the image and checks the judge line is all ✓; then clears the
prompt, clicks again and checks the red error line. Screenshots go to ``results/``.
The browser and the Voilà process group are stopped in ``finally`` (also on failure).
Prints one ``N passed, N failed`` line; exit code 1 on any failure.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recipes.playground.serve import url, voila_command  # noqa: E402

PROMPT = "左边一个大的红色圆形，白色背景"
STEPS = 10
RED_RGB = "rgb(198, 40, 40)"  # recipes.playground.app.RED


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until 127.0.0.1:``port`` accepts connections (a TCP connect: an HTTP GET of the
    page would start a kernel), or fail if the server exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with code {proc.returncode} before serving")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"voila did not listen on port {port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the Voilà process group (server + kernels), SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
    except ProcessLookupError:
        pass


def run_checks(page, out: Path, timeout_ms: int) -> list[tuple[str, bool, str]]:
    """Drive the page; return (check, passed, detail) rows."""
    results = []
    page.wait_for_selector(".pg-prompt textarea", timeout=timeout_ms)  # kernel + widgets ready
    page.fill(".pg-prompt textarea", PROMPT)
    # fewer steps, typed into the slider's editable readout as a person would
    page.click(".pg-steps .widget-readout")
    page.keyboard.press("Control+A")
    page.keyboard.type(str(STEPS))
    page.keyboard.press("Enter")
    readout = page.inner_text(".pg-steps .widget-readout").strip()
    results.append((f"steps slider set to {STEPS}", readout == str(STEPS), readout))
    page.click("button.pg-button")
    page.wait_for_function(
        "() => { const j = document.querySelector('.pg-judge');"
        " const e = document.querySelector('.pg-error-line');"
        " return (j && /[✓✗]/.test(j.innerText)) || e; }", timeout=timeout_ms)
    page.wait_for_timeout(300)  # let the image and history paint before the screenshot
    judge_text = page.inner_text(".pg-judge")
    error_text = page.inner_text(".pg-error") if page.query_selector(".pg-error") else ""
    src = page.get_attribute("img.pg-image", "src") or ""
    size = page.eval_on_selector("img.pg-image", "img => [img.naturalWidth, img.naturalHeight]")
    page.screenshot(path=str(out / "playground_generate.png"))
    results.append(("image shown", src.startswith(("blob:", "data:")) and size[0] > 0,
                    f"src={src[:30]} size={size}"))
    ok = judge_text.count("✓") >= 5 and "✗" not in judge_text and not error_text.strip()
    results.append(("judge line all ✓ for a simple Chinese prompt", ok, judge_text or error_text))

    page.fill(".pg-prompt textarea", "")
    page.click("button.pg-button")
    line = page.wait_for_selector(".pg-error-line", timeout=timeout_ms)
    color = line.evaluate("e => getComputedStyle(e).color")
    text = line.inner_text()
    page.screenshot(path=str(out / "playground_error.png"))
    results.append(("empty prompt gives one red error line",
                    color == RED_RGB and "提示词为空" in text and "\n" not in text.strip(),
                    f"{color}: {text}"))
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the browser test; 0 when every check passes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium",
                        help="Chromium binary (default /usr/bin/chromium), "
                        "e.g. --chromium $(which chromium)")
    parser.add_argument("--out", type=Path, default=ROOT / "results",
                        help="screenshot folder (default results/), e.g. --out /tmp/shots")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds for each wait: page load, generation (default 600)")
    args = parser.parse_args(argv)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = args.out / "tmp" / "playground_voila.log"  # results/tmp is git-ignored
    log_path.parent.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    results: list[tuple[str, bool, str]] = []
    with open(log_path, "w") as log:
        proc = subprocess.Popen(voila_command(port), cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_port(port, proc, args.timeout)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, headless=True,
                                             args=["--no-sandbox"])  # root in containers
                try:
                    page = browser.new_page(viewport={"width": 1000, "height": 760})
                    page.goto(url(port), timeout=args.timeout * 1000)
                    try:
                        results = run_checks(page, args.out, int(args.timeout * 1000))
                    except PlaywrightError:
                        page.screenshot(path=str(log_path.parent / "playground_failure.png"))
                        raise
                finally:
                    browser.close()
        except (PlaywrightError, RuntimeError, TimeoutError, OSError) as exc:
            results.append(("page driven to the end", False, str(exc).splitlines()[0]))
        finally:
            stop(proc)
    for name, ok, detail in results:
        print(f"{'PASS' if ok else 'FAIL'}  {name}  [{detail}]")
    n_ok = sum(ok for _, ok, _ in results)
    print(f"screenshots: {args.out}/playground_*.png · voila log: {log_path} · "
          f"{time.perf_counter() - t0:.0f} s · voila stopped: {proc.poll() is not None}")
    print(f"{n_ok} passed, {len(results) - n_ok} failed")
    return 0 if results and n_ok == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
