"""Cold `r8 convert` (empty cache, fresh process) and warm `r8 verify` (served from cache).

Targets (issue 2): cold convert within 15 s, warm verify within 2 s, on 2 cores.
Also: `import engine` time in a fresh process.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _util import ROOT, line, run_r8


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        cold, rss = run_r8(["convert"], cache)
        line("r8 convert, cold (empty cache)", f"{cold:.2f} s", "target < 15 s")
        warm, _ = run_r8(["convert"], cache)
        line("r8 convert, warm (cache hit)", f"{warm:.2f} s")
        first, _ = run_r8(["verify"], cache)
        line("r8 verify, first run (1000 real + 200 random inputs)", f"{first:.2f} s")
        again = min(run_r8(["verify"], cache)[0] for _ in range(3))
        line("r8 verify, warm (best of 3)", f"{again:.2f} s", "target < 2 s")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import engine.evaluate, engine.verify"], cwd=ROOT,
                   check=True)
    line("python -c 'import engine.evaluate, engine.verify'", f"{time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
