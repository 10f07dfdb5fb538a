"""The demo behind `make demo`: run the example flows on an embedded Ray, then ask the store
what they touched. Uses only the `assetline` command, as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETLINE = str(Path(sys.executable).with_name("assetline"))


def step(*args: str) -> None:
    print(f"\n$ assetline {' '.join(args)}", flush=True)
    subprocess.run([ASSETLINE, *args], cwd=ROOT, check=True)


def main() -> None:
    os.chdir(ROOT)
    home = ROOT / ".assetline"
    if "--fresh" in sys.argv and home.exists():
        shutil.rmtree(home)
    step("validate", "examples/taxi_pipeline.yaml", "examples/hello_assets.yaml")
    step("run", "examples/taxi_pipeline.yaml")
    step("lineage", "avg_trip_distance", "--direction", "up")
    step("lineage", "avg_trip_distance", "--direction", "up", "--format", "json")
    step("assets", "show", "sample_data.nyc.taxi")
    step("run", "examples/hello_assets.yaml", "-i", "teams=sales,finance")
    step("assets", "list")
    step("executions", "list")


if __name__ == "__main__":
    main()
