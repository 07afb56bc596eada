"""The Lambda's dependencies: manylinux wheels for the runtime, never built here.

Chalice's own packager picks the runtime from the Python that runs it and falls
back to building from source when no wheel fits its glibc guess, which is how a
host-built Pillow without libjpeg or WebP once reached the zip. Instead, pip
installs binary wheels for the target (CPython `LAMBDA_PYTHON` on x86_64 with
glibc `LAMBDA_GLIBC`, Amazon Linux 2023) whatever Python runs the build, into a
tree cached under build/ by a hash of everything that decides its content. That
tree becomes the project's vendor/ (Chalice copies vendor/ into the zip as is).

Versions: requirements.txt pins what we import, `infra/lambda-constraints.txt`
pins everything those pull in, so a build from a fresh clone is the build that
was tested. `zip_problems` is the gate: every extension module in the zip must
come from a wheel whose tags the runtime accepts.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from email.parser import HeaderParser
from functools import cache
from pathlib import Path

from packaging.tags import Tag, compatible_tags, cpython_tags, parse_tag

from infra.template import LAMBDA_RUNTIME, ROOT

_major, _minor = LAMBDA_RUNTIME.removeprefix("python").split(".")
LAMBDA_PYTHON = (int(_major), int(_minor))
LAMBDA_GLIBC = (2, 34)  # Amazon Linux 2023, the OS of python3.12 and later runtimes
LAMBDA_ARCH = "x86_64"  # Chalice's default; no stage sets lambda_architecture

CONSTRAINTS = ROOT / "infra" / "lambda-constraints.txt"
CACHE_DIR = ROOT / "build" / "lambda-deps"

# The only AWS services the code creates clients for (S3 in chalicelib/storage.py;
# DynamoDB through PynamoDB and the idempotency layer). botocore ships the models of
# every AWS service (15 MiB zipped, most of the package); the others are left out.
# tests/infra/test_packaging.py fails if the recorded flows call a service not here.
BOTOCORE_SERVICES = ("dynamodb", "s3")


class WheelError(RuntimeError):
    pass


def manylinux_platforms(glibc: tuple[int, int] = LAMBDA_GLIBC, arch: str = LAMBDA_ARCH) -> list[str]:
    """Every platform tag a wheel may carry to load on glibc `glibc`, newest first
    (pip does not expand manylinux_2_34 to the older ones by itself)."""
    major, newest = glibc
    tags = [f"manylinux_{major}_{minor}_{arch}" for minor in range(newest, 4, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


@cache
def supported_tags() -> frozenset[Tag]:
    """The wheel tags the Lambda runtime accepts (what pip on the runtime would)."""
    platforms = manylinux_platforms()
    interpreter = "cp{}{}".format(*LAMBDA_PYTHON)
    tags = set(cpython_tags(LAMBDA_PYTHON, platforms=platforms))
    tags |= set(compatible_tags(LAMBDA_PYTHON, interpreter=interpreter, platforms=platforms))
    return frozenset(tags)


def _cache_key(requirements: Path) -> str:
    digest = hashlib.sha256()
    # This module's source stands for the runtime, platforms and pruning it applies.
    for part in (
        LAMBDA_RUNTIME,
        Path(__file__).read_text(),
        requirements.read_text(),
        CONSTRAINTS.read_text(),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _prune(tree: Path) -> None:
    """Drop what the Lambda never loads: console scripts, the botocore models of
    services the code never calls, and Pillow's AVIF codec."""
    shutil.rmtree(tree / "bin", ignore_errors=True)
    # libavif is 2.1 MiB zipped and only PIL._avif loads it; uploads are PNG, JPEG
    # or WebP (chalicelib.images opens nothing else), and Pillow treats a missing
    # _avif as "AVIF unsupported". Less decoder surface, too.
    for codec in (*tree.glob("PIL/_avif.*"), *tree.glob("pillow.libs/libavif-*")):
        codec.unlink()
    data = tree / "botocore" / "data"
    for entry in data.iterdir():
        if entry.is_dir() and entry.name not in BOTOCORE_SERVICES:
            shutil.rmtree(entry)
    for pycache in list(tree.rglob("__pycache__")):
        shutil.rmtree(pycache)


def dependency_tree(requirements: Path = ROOT / "requirements.txt", cache_dir: Path = CACHE_DIR) -> Path:
    """The installed dependencies for the Lambda runtime, built once per key.

    pip resolves binary wheels only (`--only-binary=:all:`) for the target's
    interpreter and platforms, so nothing is ever compiled on this machine; an
    unavailable wheel is an error here, not a broken Lambda later.
    """
    target = cache_dir / _cache_key(requirements)
    if (target / ".complete").exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f".staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    cmd += ["--no-compile", "--only-binary=:all:", "--implementation", "cp"]
    cmd += ["--python-version", "{}.{}".format(*LAMBDA_PYTHON), "--target", str(staging)]
    for platform in manylinux_platforms():
        cmd += ["--platform", platform]
    cmd += ["-r", str(requirements), "-c", str(CONSTRAINTS)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise WheelError(f"pip could not install manylinux wheels for {LAMBDA_RUNTIME}:\n{result.stderr}")
    _prune(staging)
    problems = tree_problems(staging)
    if problems:
        shutil.rmtree(staging, ignore_errors=True)
        raise WheelError("\n".join(problems))
    (staging / ".complete").write_text("")
    shutil.rmtree(target, ignore_errors=True)
    try:
        os.replace(staging, target)
    except OSError:  # another build of the same key finished first: same content
        shutil.rmtree(staging, ignore_errors=True)
    keep_newest(cache_dir, 3)
    return target


def keep_newest(cache_dir: Path, count: int) -> None:
    """Delete all but the `count` newest builds in a cache (each is ~50 MiB)."""
    builds = sorted(
        (p for p in cache_dir.iterdir() if (p / ".complete").exists()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in builds[count:]:
        shutil.rmtree(old, ignore_errors=True)


# --- the gate: is every compiled file from a wheel the runtime accepts? ---------------

_EXTENSION_ABI = re.compile(r"\.cpython-(\d+)-")
_SHARED_OBJECT = re.compile(r"\.so(\.|$)")

# Shared libraries the Lambda runtime's OS provides: glibc's, the GCC runtime and
# zlib. A compiled file may need these or a library shipped beside it in the zip
# (wheels bundle theirs, e.g. pillow.libs/libjpeg-*.so.62), nothing else: a
# host-built Pillow needed the host's libjpeg.so.62 and libxcb.so.1.
LAMBDA_SYSTEM_LIBRARIES = frozenset(
    {
        "ld-linux-x86-64.so.2",
        "libc.so.6",
        "libm.so.6",
        "libdl.so.2",
        "librt.so.1",
        "libpthread.so.0",
        "libutil.so.1",
        "libresolv.so.2",
        "libgcc_s.so.1",
        "libstdc++.so.6",
        "libz.so.1",
    }
)


def elf_needed(data: bytes) -> list[str]:
    """The DT_NEEDED entries of a 64-bit little-endian x86_64 ELF file (what
    `readelf -d` lists as NEEDED): the shared libraries the loader must find."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    if struct.unpack_from("<H", data, 0x12)[0] != 62:  # e_machine: EM_X86_64
        raise ValueError("not built for x86_64")
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads, dynamic = [], None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:  # PT_LOAD
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == 2:  # PT_DYNAMIC
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return []
    entries = [struct.unpack_from("<qQ", data, dynamic[0] + off) for off in range(0, dynamic[1], 16)]
    strtab_vaddr = next(value for tag, value in entries if tag == 5)  # DT_STRTAB
    strtab = next(
        offset + strtab_vaddr - vaddr for vaddr, offset, size in loads if vaddr <= strtab_vaddr < vaddr + size
    )
    needed = []
    for tag, value in entries:
        if tag == 0:  # DT_NULL
            break
        if tag == 1:  # DT_NEEDED
            end = data.index(b"\0", strtab + value)
            needed.append(data[strtab + value : end].decode())
    return needed


def _problems(files: dict[str, bytes], names: list[str], read: Callable[[str], bytes]) -> list[str]:
    """`files`: every *.dist-info/WHEEL and RECORD by path; `names`: every path;
    `read`: a path's bytes (for the compiled files)."""
    supported = supported_tags()
    owner: dict[str, str] = {}
    problems = []
    for path, text in sorted(files.items()):
        if not path.endswith(".dist-info/WHEEL"):
            continue
        dist = path.rsplit("/", 2)[-2]
        headers = HeaderParser().parsestr(text.decode())
        tags = {t for line in headers.get_all("Tag", []) for t in parse_tag(line.strip())}
        if not tags & supported:
            shown = ", ".join(sorted(str(t) for t in tags)) or "no tags"
            problems.append(f"{dist}: wheel tagged {shown}, which {LAMBDA_RUNTIME} on glibc 2.34 cannot load")
        record = files.get(path.removesuffix("WHEEL") + "RECORD", b"").decode()
        for line in record.splitlines():
            owner[line.split(",", 1)[0]] = dist
    want = "{}{}".format(*LAMBDA_PYTHON)
    compiled = [n for n in sorted(names) if _SHARED_OBJECT.search(n.rsplit("/", 1)[-1])]
    shipped = {n.rsplit("/", 1)[-1] for n in compiled}
    for name in compiled:
        abi = _EXTENSION_ABI.search(name)
        if abi and abi.group(1) != want:
            problems.append(f"{name}: built for CPython {abi.group(1)}, the runtime is {want}")
        if name not in owner:
            problems.append(f"{name}: compiled file from no installed wheel (built on the host?)")
        try:
            needed = elf_needed(read(name))
        except (ValueError, struct.error, StopIteration) as exc:
            problems.append(f"{name}: not a loadable x86_64 ELF file ({exc or type(exc).__name__})")
            continue
        missing = [lib for lib in needed if lib not in shipped and lib not in LAMBDA_SYSTEM_LIBRARIES]
        if missing:
            problems.append(f"{name}: needs {', '.join(missing)}, neither in the zip nor on the runtime")
    return problems


def tree_problems(tree: Path) -> list[str]:
    files = {
        str(p.relative_to(tree)): p.read_bytes()
        for pattern in ("*.dist-info/WHEEL", "*.dist-info/RECORD")
        for p in tree.glob(pattern)
    }
    names = [str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()]
    return _problems(files, names, lambda name: (tree / name).read_bytes())


def zip_problems(zip_path: Path) -> list[str]:
    """Why the zip would not load on the runtime: empty when every wheel in it is
    tagged for the runtime (manylinux, glibc <= 2.34, cp312/abi3 or pure), every
    compiled file belongs to one of them, and every library a compiled file needs
    is in the zip or on the runtime's OS."""
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        files = {n: zf.read(n) for n in names if n.endswith((".dist-info/WHEEL", ".dist-info/RECORD"))}
        return _problems(files, names, zf.read)
