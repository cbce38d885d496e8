"""Retake ``docs/app.png``, the README's picture of the app (not a test).

    .venv/bin/python tests/browser/readme_screenshot.py [docs/app.png]

Starts the app as ``make app`` does, plants a breakpoint at ``loop`` and presses Continue in
Debian's chromium, then keeps three parts of the page, one under the other with a grey rule
between them: the debugger tab (controls, registers and last exit beside them, the listing
with memory below), then on the ESR explorer tab its value box, and its bits and field
table (the picture between them is left out). 64 colours keep the PNG small.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from armbp import app

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
WIDTH = 1280


def main(out: Path) -> None:
    proc, url = app.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": WIDTH, "height": 3000})
            page.goto(url, timeout=60_000)
            view = page.locator(".armbp-debugger-view")
            view.get_by_role("combobox", name="Location").fill("loop", timeout=60_000)
            view.get_by_role("button", name="Toggle breakpoint").click()
            view.get_by_role("button", name="Continue").click()
            expect(view.locator(".armbp-dv-pc")).to_have_text("0x4000c")
            # The debugger tab: controls, registers, last exit and the listing.
            box = {
                "debugger": page.get_by_role("tab", name="Debugger"),
                "exit": view.locator(".armbp-dv-exit"),
                "listing": view.locator(".armbp-dv-listing"),
            }
            box = {k: v.bounding_box() for k, v in box.items()}
            shots = [page.screenshot(full_page=True)]
            # The ESR explorer tab: its value box, its bits and field table.
            page.get_by_role("tab", name="ESR explorer").click()
            more = {
                "value": page.get_by_role("textbox", name="ESR value"),
                "bits": page.get_by_text("Bits (press a bit"),
                "table": page.locator("table", has_text="Fields: EC, IL, ISS"),
            }
            more["value"].wait_for(timeout=60_000)
            box |= {k: v.bounding_box() for k, v in more.items()}
            shots.append(page.screenshot(full_page=True))
            browser.close()
    finally:
        app.stop_tree(proc)

    debugger_image, explorer_image = (
        Image.open(io.BytesIO(png)).convert("RGB") for png in shots
    )

    def rows(image: Image.Image, top: float, bottom: float) -> Image.Image:
        return image.crop((0, int(top), WIDTH, int(bottom)))

    def end(name: str) -> float:
        return box[name]["y"] + box[name]["height"]

    parts = [
        rows(debugger_image, box["debugger"]["y"] - 8, max(end("exit"), end("listing")) + 8),
        rows(explorer_image, box["value"]["y"] - 8, end("value") + 8),
        rows(explorer_image, box["bits"]["y"] - 3, end("table") + 40),
    ]
    gap = 10
    image = Image.new(
        "RGB", (WIDTH, sum(p.height for p in parts) + gap * (len(parts) - 1)), "white"
    )
    y = 0
    for i, part in enumerate(parts):
        image.paste(part, (0, y))
        y += part.height
        if i < len(parts) - 1:
            image.paste(Image.new("RGB", (WIDTH, 2), (170, 170, 170)), (0, y + gap // 2 - 1))
            y += gap
    right = Image.eval(image, lambda v: 255 - v).getbbox()[2]
    image = image.crop((0, 0, min(WIDTH, right + 16), image.height))
    out.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"wrote {out} ({image.width}x{image.height}, {out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "app.png")
