"""`curator sample`: a real multi-domain corpus built deterministically from text found on this machine.

Sources (each document is labelled with one): `prose` (docstrings of the Python standard library), `code`
(standard-library source files), `man` (man pages, troff turned into text; several languages where
installed) and `docs` (README, NEWS, changelog and copyright files under /usr/share/doc). Same machine,
same arguments: byte-identical shards.
"""

from __future__ import annotations

import ast
import gzip
import json
import random
import re
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import orjson
import zstandard

from curator.errors import ConfigError

MAN_ROOT = Path("/usr/share/man")
DOC_ROOT = Path("/usr/share/doc")
MIN_CHARS = 200
MAX_FILE_BYTES = 256 << 10
DOC_NAMES = re.compile(
    r"^(readme|news|changelog|changes|copyright|authors|todo|faq|.*\.(txt|md|rst))(\.gz)?$", re.IGNORECASE
)


def _read_text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if len(data) > MAX_FILE_BYTES or b"\x00" in data[:4096]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _stdlib_files(seed: int, salt: str) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "__pycache__" not in p.parts)
    random.Random(f"{seed}:{salt}").shuffle(files)
    return files


def prose_docs(seed: int) -> Iterator[dict]:
    """Docstrings of modules, classes and functions of the standard library."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in _stdlib_files(seed, "prose"):
        text = _read_text(path)
        if text is None:
            continue
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        nodes = [(module, tree)] + [
            (f"{module}.{n.name}", n)
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        ]
        for qualname, node in nodes:
            doc = ast.get_docstring(node)
            if doc and len(doc) >= MIN_CHARS:
                yield {
                    "id": f"pydoc:{qualname}:{getattr(node, 'lineno', 0)}",
                    "source": "prose",
                    "text": doc,
                    "kind": "docstring",
                    "module": module,
                }


def code_docs(seed: int) -> Iterator[dict]:
    """Whole standard-library source files."""
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in _stdlib_files(seed, "code"):
        text = _read_text(path)
        if text and len(text) >= MIN_CHARS:
            rel = str(path.relative_to(root))
            yield {"id": f"pysrc:{rel}", "source": "code", "text": text, "kind": "python", "path": rel}


_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)|\\s[+-]?\d+|\\[&|^%:,/]|\\\*\(..|\\\*.")
_GLYPH = {
    "em": "\u2014",
    "en": "\u2013",
    "aq": "'",
    "dq": '"',
    "lq": "\u201c",
    "rq": "\u201d",
    "bu": "\u2022",
    "co": "\u00a9",
    "rg": "\u00ae",
    "mu": "\u00d7",
    "de": "\u00b0",
    "hy": "-",
    "ti": "~",
    "ha": "^",
}
_DROP = {
    "TH",
    "so",
    "ds",
    "de",
    "nr",
    "if",
    "ie",
    "el",
    "ft",
    "in",
    "ta",
    "ne",
    "nh",
    "ad",
    "na",
    "hy",
    "fi",
    "nf",
    "ti",
    "ll",
    "ps",
    "vs",
    "tr",
    "IX",
    "rm",
    "als",
    "am",
    "ig",
    "..",
    "Dd",
    "Dt",
    "Os",
    "cc",
    "ec",
    "eo",
    "mso",
}
_BREAK = {"PP", "LP", "P", "sp", "br", "TP", "IP", "RS", "RE", "Pp", "Bl", "El", "Bd", "Ed", "HP", "TQ"}


def troff_to_text(src: str) -> str:
    """Crude troff/man/mdoc to plain text: macros dropped or unwrapped, escapes resolved."""
    out: list[str] = []
    for line in src.splitlines():
        if line.startswith(('.\\"', "'\\\"", '.\\"')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")):
            parts = line[1:].strip().split(None, 1)
            if not parts:
                continue
            macro, args = parts[0], (parts[1] if len(parts) > 1 else "")
            if macro in _DROP:
                continue
            if macro in ("SH", "SS", "Sh", "Ss"):
                out += ["", args.strip('"').upper() if macro in ("SH", "Sh") else args.strip('"')]
                continue
            if macro in _BREAK:
                out.append("")
                if macro == "IP" and args:
                    out.append(args.split('"')[1] if args.startswith('"') and args.count('"') >= 2 else args)
                continue
            line = args.replace('"', "")
        line = re.sub(r"\\\((\w\w)", lambda m: _GLYPH.get(m.group(1), ""), line)
        line = line.replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ").replace("\\~", " ")
        line = _FONT.sub("", line)
        out.append(line.split('\\"')[0].rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def man_docs(seed: int) -> Iterator[dict]:
    """Man pages, any language installed; `lang` comes from the path (man/de/man1 -> de)."""
    if not MAN_ROOT.is_dir():
        return
    files = sorted(p for p in MAN_ROOT.rglob("*") if p.is_file() and not p.is_symlink())
    random.Random(f"{seed}:man").shuffle(files)
    for path in files:
        src = _read_text(path)
        if src is None:
            continue
        text = troff_to_text(src)
        if len(text) < MIN_CHARS:
            continue
        rel = path.relative_to(MAN_ROOT)
        lang = rel.parts[0] if not rel.parts[0].startswith("man") else "en"
        yield {"id": f"man:{rel}", "source": "man", "text": text, "lang": lang, "path": str(rel)}


def doc_docs(seed: int) -> Iterator[dict]:
    """README, NEWS, changelog, copyright and text files of installed packages."""
    if not DOC_ROOT.is_dir():
        return
    files = sorted(p for p in DOC_ROOT.rglob("*") if p.is_file() and not p.is_symlink() and DOC_NAMES.match(p.name))
    random.Random(f"{seed}:docs").shuffle(files)
    for path in files:
        text = _read_text(path)
        if text and len(text) >= MIN_CHARS:
            rel = str(path.relative_to(DOC_ROOT))
            yield {"id": f"doc:{rel}", "source": "docs", "text": text, "package": rel.split("/")[0], "path": rel}


GENERATORS = {"prose": prose_docs, "code": code_docs, "man": man_docs, "docs": doc_docs}


def build_sample(
    out: str | Path,
    max_docs: int = 50_000,
    max_mb: float = 16.0,
    seed: int = 0,
    shard_docs: int = 500,
    force: bool = False,
) -> dict:
    """Write `out/part-NNNN.jsonl.zst` shards and `out/MANIFEST.json`; returns the manifest.

    Each next document comes from the source with the fewest bytes so far (so bytes are balanced across
    sources) until `max_docs` documents or `max_mb` megabytes of text; then all are shuffled with `seed`.
    An existing corpus built with the same arguments is kept.
    """
    out = Path(out)
    args = {
        "max_docs": max_docs,
        "max_mb": max_mb,
        "seed": seed,
        "shard_docs": shard_docs,
        "python": sys.version.split()[0],
    }
    manifest_path = out / "MANIFEST.json"
    previous = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    if previous is None and out.is_dir() and any(out.iterdir()):
        raise ConfigError(
            f"--out {out} is not empty and holds no sample corpus (no MANIFEST.json); "
            "choose a new or empty folder (curator never deletes files it did not write)"
        )
    unchanged = previous is not None and previous.get("args") == args
    if not force and unchanged and all((out / f).exists() for f in previous.get("files", [])):
        return previous
    gens = {name: gen(seed) for name, gen in GENERATORS.items()}
    docs: list[dict] = []
    budget = int(max_mb * 1e6)
    used = 0
    taken = {name: 0 for name in gens}
    while gens and len(docs) < max_docs and used < budget:
        name = min(gens, key=lambda g: (taken[g], g))  # the source with the fewest bytes so far
        doc = next(gens[name], None)
        if doc is None:
            del gens[name]
            continue
        size = len(doc["text"].encode())
        docs.append(doc)
        taken[name] += size
        used += size
    random.Random(seed).shuffle(docs)
    out.mkdir(parents=True, exist_ok=True)
    for name in (previous or {}).get("files", []):  # only the shards an earlier build listed
        if "/" not in name and name.startswith("part-"):
            (out / name).unlink(missing_ok=True)
    files = []
    cctx = zstandard.ZstdCompressor(level=3)
    for k in range(0, len(docs), shard_docs):
        name = f"part-{k // shard_docs:04d}.jsonl.zst"
        payload = b"".join(orjson.dumps(d) + b"\n" for d in docs[k : k + shard_docs])
        tmp = out / f".tmp-{name}"
        tmp.write_bytes(cctx.compress(payload))
        tmp.replace(out / name)
        files.append(name)
    per_source: dict[str, dict[str, int]] = {}
    for d in docs:
        s = per_source.setdefault(d["source"], {"docs": 0, "bytes": 0})
        s["docs"] += 1
        s["bytes"] += len(d["text"].encode())
    manifest = {"args": args, "docs": len(docs), "bytes": used, "sources": per_source, "files": files}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest
