"""The compiled wire schema matches the reference table row for row, and is up to date."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

from google.protobuf import descriptor_pb2
from twisted.trial import unittest

from txsmarkets.wire import eto_pb2, seto_pb2

DATA = pathlib.Path(__file__).parent / "data"
ROOT = pathlib.Path(__file__).parent.parent

_LABELS = {
    descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL: "optional",
    descriptor_pb2.FieldDescriptorProto.LABEL_REQUIRED: "required",
    descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED: "repeated",
}
_SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
}


def _reference() -> set[tuple[str, ...]]:
    rows = set()
    for line in (DATA / "schema.tsv").read_text().splitlines():
        cells = line.split("\t")
        if cells[0] == "M" and len(cells) == 6:
            cells.append("")
        rows.add(tuple(cells))
    return rows


def _file_proto(module: object) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)  # type: ignore[attr-defined]
    return proto


def _compiled() -> set[tuple[str, ...]]:
    """The schema as the compiled descriptors hold it, in the rows of schema.tsv."""
    rows = set()
    for module in (eto_pb2, seto_pb2):
        proto = _file_proto(module)
        for enum in proto.enum_type:
            for value in enum.value:
                rows.add(("E", f"{proto.package}.{enum.name}", value.name, str(value.number)))
        for message in proto.message_type:
            name = f"{proto.package}.{message.name}"
            if not message.field:
                rows.add(("M", name, "-", "-", "-", "-", ""))
            for field in message.field:
                kind = field.type_name.lstrip(".") or _SCALARS[field.type]
                rows.add(
                    (
                        "M",
                        name,
                        field.name,
                        str(field.number),
                        _LABELS[field.label],
                        kind,
                        field.default_value,
                    )
                )
    return rows


class SchemaTests(unittest.SynchronousTestCase):
    def test_packages(self) -> None:
        self.assertEqual(eto_pb2.DESCRIPTOR.package, "smarkets.eto")
        self.assertEqual(seto_pb2.DESCRIPTOR.package, "smarkets.seto")
        self.assertEqual([d.name for d in seto_pb2.DESCRIPTOR.dependencies], ["eto.proto"])
        self.assertIn(_file_proto(seto_pb2).syntax, ("", "proto2"))  # "" is proto2
        self.assertIn(_file_proto(eto_pb2).syntax, ("", "proto2"))  # "" is proto2

    def test_rows_match_reference(self) -> None:
        """Every row of schema.tsv is compiled, and nothing else is."""
        reference = _reference()
        compiled = _compiled()
        self.assertEqual(sorted(reference - compiled), [])
        self.assertEqual(sorted(compiled - reference), [])
        self.assertEqual(len(compiled), 457)


class RegenerationTests(unittest.TestCase):
    """The committed modules are what protos/generate.py makes of protos/ today."""

    def setUp(self) -> None:
        if importlib.util.find_spec("grpc_tools") is None:
            raise unittest.SkipTest("grpcio-tools is not installed (pip install '.[test]')")

    def test_committed_modules_are_current(self) -> None:
        spec = importlib.util.spec_from_file_location("_generate", ROOT / "protos" / "generate.py")
        assert spec is not None and spec.loader is not None
        generate = importlib.util.module_from_spec(spec)
        sys.modules.setdefault("_generate", generate)
        spec.loader.exec_module(generate)
        out = pathlib.Path(self.mktemp())
        written = generate.generate(out)
        self.assertEqual(
            sorted(p.name for p in written),
            ["eto_pb2.py", "eto_pb2.pyi", "seto_pb2.py", "seto_pb2.pyi"],
        )
        for path in written:
            committed = ROOT / "txsmarkets" / "wire" / path.name
            self.assertEqual(
                path.read_bytes(),
                committed.read_bytes(),
                f"{committed} is out of date: run python protos/generate.py",
            )
