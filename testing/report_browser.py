"""Render the pricing example's trace report in a real browser (headless Chromium) and keep the screenshot.

Run by `nox -s report-browser`: compiles examples/pricing.chr, records a
trace under examples/pricing.toml, writes the HTML report with the source,
opens it in headless Chromium (Debian's `chromium` package; nothing is
downloaded), fails on any console message (a script, a blocked resource, a
Content-Security-Policy violation), and writes docs/report-pricing.png.

Everything runs in a temporary folder under relative names, so the page
(and the screenshot) shows `pricing.json` and `pricing.chr`, not a path of
the machine that made it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _cli(module: str, *args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{module} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "report-pricing.png"))
    parser.add_argument("--window", default="960,2300", help="browser window WIDTH,HEIGHT")
    ns = parser.parse_args()
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        print("no chromium found: install Debian's `chromium` package (apt-get install -y chromium)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        shutil.copy(ROOT / "examples" / "pricing.chr", work / "pricing.chr")
        shutil.copy(ROOT / "examples" / "pricing.toml", work / "pricing.toml")
        _cli("chronicle_cli.chronc", "pricing.chr", "-o", "pricing.cmod", cwd=work)
        _cli(
            "chronicle_cli.vm",
            "trace",
            "pricing.cmod",
            "--policy",
            "pricing.toml",
            "--entry",
            "quote",
            "--arg",
            '{"id": "o-17", "tier": "gold", "lines": [{"sku": "tea", "qty": 24}, {"sku": "mug", "qty": 3}], '
            '"coupons": ["SAVE10", "FLAT5"]}',
            "-o",
            "pricing.json",
            cwd=work,
        )
        _cli(
            "chronicle_cli.vm",
            "report",
            "pricing.json",
            "--module",
            "pricing.cmod",
            "--source",
            "pricing.chr",
            "-o",
            "report.html",
            cwd=work,
        )
        shot = work / "shot.png"
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                f"--window-size={ns.window}",
                "--enable-logging=stderr",
                "--v=0",
                f"--screenshot={shot}",
                (work / "report.html").as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
        if done.returncode != 0 or not shot.exists():
            print(done.stderr, file=sys.stderr)
            print(f"chromium failed ({done.returncode})", file=sys.stderr)
            return 1
        if console:
            print("the report logged to the browser console:\n" + "\n".join(console), file=sys.stderr)
            return 1
        shutil.copy(shot, ns.out)
    print(f"screenshot written to {Path(ns.out).relative_to(ROOT) if Path(ns.out).is_relative_to(ROOT) else ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
