#!/usr/bin/env python3
"""Writes Sources/Gateway/Dashboard/DashboardAssets.swift from the files in dashboard/ (the files
to edit). Gateways serve the embedded copies at / and /dashboard/<name>; DashboardTests fails when
they differ from the files here. Run it after every change: python3 dashboard/embed.py"""
import hashlib
import pathlib

here = pathlib.Path(__file__).resolve().parent
root = here.parent
types = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


def literal(text):
    """A Swift raw multi-line string literal holding `text` exactly."""
    hashes = "#"
    while ('"""' + hashes) in text or ("\\" + hashes) in text:
        hashes += "#"
    # The newline before the closing delimiter is not part of a Swift string: add one, so the
    # served text is the file exactly.
    return hashes + '"""\n' + text + '\n"""' + hashes


entries = []
for path in sorted(here.iterdir()):
    if path.suffix not in types or not path.is_file():
        continue
    text = path.read_text(encoding="utf-8")
    assert "\r" not in text, f"{path.name}: use LF line endings"
    etag = '"' + hashlib.sha256(text.encode("utf-8")).hexdigest()[:20] + '"'
    entries.append(
        f'        "{path.name}": Asset(\n'
        f'            contentType: "{types[path.suffix]}", etag: #"{etag}"#,\n'
        f"            body: {literal(text)}\n"
        f"        ),\n"
    )

out = root / "Sources/Gateway/Dashboard/DashboardAssets.swift"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(
    "// The dashboard's files, served at / and /dashboard/<name>. Generated from dashboard/, the files\n"
    "// to edit, by `python3 dashboard/embed.py`; `DashboardTests` fails when the two differ.\n"
    "enum DashboardAssets {\n"
    "    struct Asset: Sendable {\n"
    "        let contentType: String\n"
    "        /// A strong validator: the first 80 bits of the body's SHA-256, quoted.\n"
    "        let etag: String\n"
    "        let body: String\n"
    "    }\n"
    "\n"
    "    /// By exact file name: nothing outside this table can be served.\n"
    "    static let files: [String: Asset] = [\n" + "".join(entries) + "    ]\n"
    "}\n"
)
print(f"wrote {out.relative_to(root)} ({len(entries)} files)")
