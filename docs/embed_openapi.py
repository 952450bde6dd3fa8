#!/usr/bin/env python3
"""Writes Sources/Gateway/API/OpenAPISpec.swift from docs/openapi.yaml (the file to edit).
The gateway serves the embedded copy at /openapi.yaml; a test fails when the two differ."""
import pathlib
root = pathlib.Path(__file__).resolve().parent.parent
spec = (root / "docs/openapi.yaml").read_text()
assert '"""#' not in spec
(root / "Sources/Gateway/API/OpenAPISpec.swift").write_text(
    "// The REST contract, served at /openapi.yaml. Generated from docs/openapi.yaml, the file to\n"
    "// edit, by `python3 docs/embed_openapi.py`; `OpenAPITests` fails when the two differ.\n"
    "enum OpenAPISpec {\n"
    # The newline before the closing delimiter is not part of a Swift string: add one, so the
    # served text is the file exactly.
    '    static let yaml = #"""\n' + spec + '\n"""#\n'
    "}\n"
)
