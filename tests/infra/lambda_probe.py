"""Run by the Lambda runtime's Python on the unzipped deployment package, as the
Lambda would load it: the tree first on sys.path, no site-packages of the
interpreter (`-I -S`), the stage's variables and PROBE_AWS_SERVICES in the
environment:

    python3.12 -I -S lambda_probe.py TREE IMAGE...

Prints one JSON object of facts (an error's traceback where one failed);
tests/infra/test_packaging.py asserts on them.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any


def _attempt(facts: dict[str, Any], name: str, fn: Any) -> None:
    try:
        facts[name] = fn()
    except Exception:
        facts[name] = {"error": traceback.format_exc(limit=4)}


def main() -> None:
    tree = Path(sys.argv[1])
    images = [Path(p) for p in sys.argv[2:]]
    sys.path.insert(0, str(tree))
    facts: dict[str, Any] = {"python": list(sys.version_info[:2])}

    def pillow() -> dict[str, Any]:
        import PIL
        from PIL import features

        return {
            "from": str(Path(PIL.__file__).resolve().relative_to(tree.resolve())),
            "features": {name: features.check(name) for name in ("jpg", "zlib", "webp", "avif")},
        }

    def thumbnails() -> dict[str, Any]:
        import io

        from PIL import Image

        from chalicelib.images import check_type, make_thumbnail, sniff

        Image.init()  # every format plugin imports without the codecs the zip leaves out

        out = {}
        for path in images:
            data = path.read_bytes()
            declared = sniff(data[:16]) or "unknown"
            thumb = make_thumbnail(data, check_type(data, declared))
            with Image.open(io.BytesIO(thumb.data)) as again:
                out[path.name] = {
                    "input": declared,
                    "output": again.format,
                    "size": [thumb.width, thumb.height],
                }
        return out

    def app() -> dict[str, Any]:
        import app as module

        return {"app_name": module.app.app_name, "in_tree": Path(module.__file__).parent == tree}

    def aws_clients() -> dict[str, Any]:
        import boto3
        import botocore

        clients = {}
        for service in os.environ["PROBE_AWS_SERVICES"].split(","):
            client = boto3.client(
                service,
                region_name="us-east-1",
                aws_access_key_id="probe",
                aws_secret_access_key="probe",
            )
            clients[service] = client.meta.service_model.service_name
        return {
            "botocore": botocore.__version__,
            "from": str(Path(botocore.__file__).resolve().relative_to(tree.resolve())),
            "clients": clients,
        }

    _attempt(facts, "pillow", pillow)
    _attempt(facts, "thumbnails", thumbnails)
    _attempt(facts, "app", app)
    _attempt(facts, "aws", aws_clients)
    print(json.dumps(facts))


if __name__ == "__main__":
    main()
