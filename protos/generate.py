"""Regenerate txsmarkets/wire/eto_pb2.py and seto_pb2.py (with .pyi stubs) from protos/.

Usage: python protos/generate.py [OUTPUT_DIR]

Needs grpcio-tools (the ``test`` extra pins the version the committed modules were made
with). OUTPUT_DIR defaults to the ``txsmarkets.wire`` package beside this folder.
"""

from __future__ import annotations

import pathlib
import re
import sys
import tempfile

PROTOS = pathlib.Path(__file__).resolve().parent
NAMES = ("eto", "seto")

# protoc writes imports for the top-level module name the .proto import used; the modules
# live inside the package, so the imports are made package-relative to it.
_IMPORT = re.compile(rb"^import (\w+_pb2) as (\w+)$", re.MULTILINE)


def generate(output: pathlib.Path) -> list[pathlib.Path]:
    """Compile the .proto files into ``output`` and return the files written."""
    from grpc_tools import protoc

    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as raw:
        args = [
            "protoc",
            f"-I{PROTOS}",
            f"--python_out={raw}",
            f"--pyi_out={raw}",
            *(str(PROTOS / f"{name}.proto") for name in NAMES),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        written = []
        for path in sorted(pathlib.Path(raw).iterdir()):
            text = _IMPORT.sub(rb"from txsmarkets.wire import \1 as \2", path.read_bytes())
            target = output / path.name
            target.write_bytes(text)
            written.append(target)
    return written


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else PROTOS.parent / "txsmarkets" / "wire"
    for path in generate(out):
        print(path)
