"""Cold import of app.py against a bare import of the same third-party modules.

Each measurement is a fresh interpreter that times only the import statement
(interpreter start-up is the same for both and left out). The baseline imports
exactly the third-party modules that `import app` leaves in sys.modules, in the
same order, so the difference is what our own modules cost: their bodies
(class definitions, decorators, schema building) and the stdlib modules only
they pull in.

Byte-code caching must be the same on both sides. Dependencies installed by pip
come with .pyc files, while this repository's environment may set
PYTHONDONTWRITEBYTECODE (ours would then be compiled on every import). So every
run uses a private PYTHONPYCACHEPREFIX: "cached" fills it in an untimed first
round (both sides load byte code, as a warm container would), "from source"
keeps it empty and unwritable-by-policy (both sides compile everything, as a
Lambda whose package carries no .pyc files does on a cold start).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = ("app", "chalicelib")

_DISCOVER = """
import json, sys
import app
ours = {"app", "chalicelib"}
third_party = []
for name, module in list(sys.modules.items()):
    top = name.partition(".")[0]
    if top in ours or top in sys.stdlib_module_names or top.startswith("_") or module is None:
        continue
    third_party.append(name)
print(json.dumps(third_party))
"""

_BARE_MODULES = """
import importlib, json, sys
for name in json.loads(sys.stdin.read()):
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""

_TIME_APP = """
import time
started = time.perf_counter()
import app
print(time.perf_counter() - started)
"""

_TIME_BARE = """
import importlib, json, sys, time
names = json.loads(sys.stdin.read())
started = time.perf_counter()
for name in names:
    importlib.import_module(name)
print(time.perf_counter() - started)
"""


@dataclass
class ImportTimes:
    app_seconds: list[float]
    bare_seconds: list[float]
    third_party_modules: int
    third_party: list[str] = field(default_factory=list)

    @property
    def app_median(self) -> float:
        return statistics.median(self.app_seconds)

    @property
    def bare_median(self) -> float:
        return statistics.median(self.bare_seconds)

    @property
    def ratio(self) -> float:
        return self.app_median / self.bare_median


def _python(
    code: str, stdin: str = "", extra: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *extra, "-c", code],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )


def _environment(cache_dir: str, write_bytecode: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def third_party_modules() -> list[str]:
    return list(json.loads(_python(_DISCOVER).stdout))


def measure(runs: int = 7, *, cached: bool = True) -> ImportTimes:
    names = third_party_modules()
    payload = json.dumps(names)
    time_app, time_bare = _TIME_APP, _TIME_BARE
    with tempfile.TemporaryDirectory(prefix="vidpipe-pycache-") as cache_dir:
        env = _environment(cache_dir, write_bytecode=cached)
        # one untimed round each: fills the byte-code cache (when cached) and the page cache
        _python(time_app, env=env)
        _python(time_bare, payload, env=env)
        app, bare = [], []
        for _ in range(runs):  # interleaved, so drift in machine load hits both alike
            app.append(float(_python(time_app, env=env).stdout))
            bare.append(float(_python(time_bare, payload, env=env).stdout))
    return ImportTimes(app, bare, len(names), names)


def our_import_costs(third_party: list[str]) -> list[tuple[str, float, float]]:
    """`python -X importtime -c 'import app'`: (module, self ms, cumulative ms) for
    every module the baseline does not import (ours, and the stdlib modules only
    our code pulls in), costliest first."""
    baseline = set(json.loads(_python(_BARE_MODULES, json.dumps(third_party)).stdout))
    with tempfile.TemporaryDirectory(prefix="vidpipe-pycache-") as cache_dir:
        env = _environment(cache_dir, write_bytecode=True)
        _python("import app", env=env)  # fill the byte-code cache first
        out = _python("import app", extra=("-X", "importtime"), env=env).stderr
    rows = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = (part.strip() for part in line[len("import time:") :].split("|"))
        module = name.strip()
        top = module.partition(".")[0]
        if module in baseline or not (top in OURS or top in sys.stdlib_module_names):
            continue  # loaded by the baseline too, or a failed optional import of a dependency
        rows.append((module, int(self_us) / 1000, int(cumulative_us) / 1000))
    rows.sort(key=lambda r: -r[1])
    return rows
