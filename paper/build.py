"""Build the paper: rerun experiments (optionally), redraw every figure, render paper.md.

    python paper/build.py                 # figures from committed outputs, then HTML (make paper)
    python paper/build.py --rerun         # every experiment from its config (make paper-rerun)
    python paper/build.py --rerun NAME..  # only these experiments, then every figure
    python paper/build.py --list          # experiments, figures, freshness and rerun minutes

``paper/manifest.toml`` lists every experiment (committed config, command, output directory)
and every figure (script, the experiments it reads, what it writes).  A figure script reads
outputs only; it refuses outputs whose ``PROVENANCE.json`` records another version of the
config (see ``paper/figures/_paper.py``).  The paper is rendered to ``paper/paper.html`` with
the figures embedded (Python-Markdown, the ``paper`` extra) and, when ``pandoc`` and a LaTeX
engine are installed, to ``paper/paper.pdf``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "figures"))
from _paper import ROOT, config_hashes, load_manifest, stale_reason  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trace_numbers  # noqa: E402

PAPER = ROOT / "paper"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def _command(cmd: str) -> str:
    return cmd.replace("{python}", sys.executable)


def _write_provenance(name: str, entry: dict, seconds: float | None, *,
                      stamped: str | None = None) -> None:
    data = ROOT / entry["data"]
    data.mkdir(parents=True, exist_ok=True)
    record = {
        "experiment": name,
        "configs": config_hashes(entry),
        "command": entry["command"],
        "seconds": seconds,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.node()} ({os.cpu_count()} CPUs, {platform.machine()})",
        "git_commit": _git_commit(),
    }
    if stamped:
        record["stamped"] = stamped
    prov = data / "PROVENANCE.json"
    records = json.loads(prov.read_text()) if prov.is_file() else {}
    if "experiment" in records:  # a single record (the first format of this file)
        records = {records["experiment"]: records}
    records[name] = record
    prov.write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")


def rerun_order(names: list[str], manifest: dict) -> list[str]:
    """``names`` with every experiment after those it lists in ``after`` (when also named)."""
    done: list[str] = []

    def visit(n: str, stack: tuple[str, ...]) -> None:
        if n in done:
            return
        if n in stack:
            sys.exit(f"error: experiments {' -> '.join(stack + (n,))} form a cycle")
        for dep in manifest["experiment"][n].get("after", []):
            if dep in names:
                visit(dep, stack + (n,))
        done.append(n)

    for n in names:
        visit(n, ())
    return done


def rerun(names: list[str], manifest: dict, jobs: int = 1) -> dict[str, float]:
    """Run the named experiments from their configs; return wall seconds per experiment.

    With ``jobs > 1``, up to that many experiments run at once (each with
    ``NUMBA_NUM_THREADS = cpus // jobs``), longest first by their recorded ``minutes``, an
    experiment starting only after those it lists in ``after``.  Most of the paper's
    experiments are partly serial (L-BFGS, NEB, Python loops), so two at a time on two cores
    finish sooner than one at a time with two threads.  An experiment marked ``exclusive``
    in the manifest (the benchmarks: they time things and set their own thread counts) runs
    after the others, alone, with every core and the environment unchanged.
    """
    order = rerun_order(names, manifest)
    alone = {n for n in order if manifest["experiment"][n].get("exclusive", False)}
    # longest first (by the recorded minutes), so that the last to finish is a short one
    minutes = {n: float(manifest["experiment"][n].get("minutes", 0)) for n in order}
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    shared_env = dict(os.environ)
    if jobs > 1:
        shared_env["NUMBA_NUM_THREADS"] = str(threads)
    times: dict[str, float] = {}
    running: dict[str, tuple[subprocess.Popen, float]] = {}
    pending = sorted(order, key=lambda n: -minutes[n]) if jobs > 1 else list(order)
    pending.sort(key=lambda n: n in alone)  # stable: the exclusive ones last
    failed: list[str] = []
    while pending or running:
        for name in list(pending):
            if len(running) >= max(1, jobs) or any(r in alone for r in running):
                break
            if name in alone and running:
                break
            deps = [d for d in manifest["experiment"][name].get("after", []) if d in order]
            if any(d not in times for d in deps):
                continue
            cmd = _command(manifest["experiment"][name]["command"])
            print(f"[rerun] {name}: {cmd}", flush=True)
            env = dict(os.environ) if name in alone else shared_env
            running[name] = (subprocess.Popen(cmd, shell=True, cwd=ROOT, env=env),  # noqa: S602
                             time.perf_counter())
            pending.remove(name)
        if not running:  # every pending experiment waits on a failed one
            break
        time.sleep(0.2)
        for name, (proc, t0) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[name]
            seconds = time.perf_counter() - t0
            if proc.returncode != 0:
                failed.append(f"{name} (exit {proc.returncode})")
                continue
            _write_provenance(name, manifest["experiment"][name], seconds)
            times[name] = seconds
            print(f"[rerun] {name}: {seconds / 60:.1f} min", flush=True)
    if failed or pending:
        sys.exit(f"error: experiment(s) failed: {', '.join(failed)}"
                 + (f"; not run: {', '.join(pending)}" if pending else ""))
    return times


def figures(manifest: dict) -> None:
    """Run every figure script; exit with one line per stale experiment first."""
    stale = {n: stale_reason(n) for f in manifest["figure"].values() for n in f["needs"]}
    bad = {n: why for n, why in stale.items() if why}
    if bad:
        for n, why in sorted(bad.items()):
            print(f"error: {why}: run `python paper/build.py --rerun {n}`", file=sys.stderr)
        sys.exit(2)
    for name, fig in manifest["figure"].items():
        cmd = [sys.executable, str(PAPER / "figures" / fig["script"]), *fig.get("args", [])]
        print(f"[figure] {name}", flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout[-2000:] + proc.stderr[-4000:])
            sys.exit(f"error: figure {name} failed: {' '.join(cmd)}")
        for out in fig["outputs"]:
            if not (PAPER / out).is_file():
                sys.exit(f"error: figure {name} did not write paper/{out}")


# --- rendering ------------------------------------------------------------------------------

_ACCENTS = {'\\"': "\u0308", "\\'": "\u0301", "\\`": "\u0300", "\\^": "\u0302",
            "\\~": "\u0303"}
_LETTERS = {"\\o": "ø", "\\O": "Ø", "\\l": "ł", "\\L": "Ł", "\\aa": "å", "\\ss": "ß"}


def _latex_to_text(value: str) -> str:
    """BibTeX accents and letters as Unicode; ``--`` as an en dash; braces dropped."""
    import unicodedata
    for cmd, mark in _ACCENTS.items():
        value = re.sub(re.escape(cmd) + r"\{?(\w)\}?", lambda m, k=mark: m.group(1) + k, value)
    for cmd, letter in _LETTERS.items():
        value = re.sub(re.escape(cmd) + r"(?![A-Za-z])\s?", letter, value)
    value = value.replace("--", "\u2013").replace("{", "").replace("}", "")
    value = re.sub(r"\$\\widehat\{?R\}?\$", "R\u0302", value)
    return unicodedata.normalize("NFC", value)


def parse_bib(text: str) -> dict[str, dict[str, str]]:
    """Entries of a BibTeX file as ``{key: {field: value, "type": type}}`` (brace values)."""
    entries: dict[str, dict[str, str]] = {}
    for m in re.finditer(r"@(\w+)\s*\{\s*([^,\s]+)\s*,(.*?)\n\}", text, re.S):
        fields = {"type": m.group(1).lower()}
        body, pos = m.group(3), 0
        while (f := re.compile(r"(\w+)\s*=\s*\{").search(body, pos)) is not None:
            depth, i = 1, f.end()
            while depth and i < len(body):  # the value runs to the matching brace
                depth += {"{": 1, "}": -1}.get(body[i], 0)
                i += 1
            value = body[f.end():i - 1]
            fields[f.group(1).lower()] = re.sub(r"\s+", " ", _latex_to_text(value)).strip()
            pos = i
        entries[m.group(2)] = fields
    return entries


def _surnames(authors: str) -> list[str]:
    names = [a.strip() for a in authors.split(" and ") if a.strip()]
    return [n.split(",")[0].strip() if "," in n else n.split()[-1] for n in names]


def _cite_label(e: dict[str, str]) -> str:
    s = _surnames(e.get("author", "Anonymous"))
    who = s[0] if len(s) == 1 else f"{s[0]} & {s[1]}" if len(s) == 2 else f"{s[0]} et al."
    return f"{who} {e.get('year', 'n.d.')}"


def _reference(key: str, e: dict[str, str]) -> str:
    parts = [html.escape(e.get("author", "")), f"({html.escape(e.get('year', 'n.d.'))}).",
             html.escape(e.get("title", "")) + "."]
    venue = e.get("journal") or e.get("booktitle") or e.get("publisher") or e.get("howpublished")
    if venue:
        vol = f" {e['volume']}" if "volume" in e else ""
        pages = f", {e['pages']}" if "pages" in e else ""
        parts.append(f"<em>{html.escape(venue)}</em>{html.escape(vol + pages)}.")
    if "doi" in e:
        doi = html.escape(e["doi"])
        parts.append(f'<a href="https://doi.org/{doi}">doi:{doi}</a>')
    elif "url" in e:
        parts.append(f'<a href="{html.escape(e["url"])}">{html.escape(e["url"])}</a>')
    return f'<li id="ref-{html.escape(key)}">{" ".join(parts)}</li>'


def split_front_matter(text: str) -> tuple[dict[str, object], str]:
    """The YAML header of ``paper.md`` (the simple subset JOSS uses) and the body."""
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not m:
        return {}, text
    meta: dict[str, object] = {}
    key = None
    for line in m.group(1).splitlines():
        if re.match(r"^\w[\w-]*:", line):
            key, _, value = line.partition(":")
            value = value.strip().strip("'\"")
            meta[key] = value if value else []
        elif key is not None and line.strip().startswith("- "):
            item = line.strip()[2:]
            lst = meta[key] if isinstance(meta[key], list) else []
            lst.append(item.split(":", 1)[1].strip().strip("'\"") if ":" in item else item)
            meta[key] = lst
    return meta, text[m.end():]


def render_html(md_path: Path, bib_path: Path, out: Path) -> Path:
    """Render ``paper.md`` to one self-contained HTML file (figures embedded as data URIs)."""
    try:
        import markdown
    except ImportError:
        sys.exit("error: rendering needs Python-Markdown: pip install -e '.[paper]'")
    meta, body = split_front_matter(md_path.read_text())
    bib = parse_bib(bib_path.read_text())
    cited: list[str] = []

    def cite(m: re.Match) -> str:
        keys = [k.strip().lstrip("@") for k in m.group(1).split(";")]
        missing = [k for k in keys if k not in bib]
        if missing:
            sys.exit(f"error: {md_path.name} cites {missing} not in {bib_path.name}")
        for k in keys:
            if k not in cited:
                cited.append(k)
        links = "; ".join(f'<a href="#ref-{k}">{html.escape(_cite_label(bib[k]))}</a>'
                          for k in keys)
        return f"({links})"

    body = re.sub(r"\[(@[\w:-]+(?:\s*;\s*@[\w:-]+)*)\]", cite, body)
    body = re.sub(r"(?m)^# References\s*$", "", body)

    def embed(m: re.Match) -> str:
        src = (md_path.parent / m.group(2)).resolve()
        if not src.is_file():
            sys.exit(f"error: {md_path.name} includes {m.group(2)}, which does not exist")
        data = base64.b64encode(src.read_bytes()).decode()
        return f"![{m.group(1)}](data:image/png;base64,{data})"

    # JOSS cross-references: \label{fig:x} in a caption, \autoref{fig:x} in the text
    labels = re.findall(r"\\label\{(fig:[\w-]+)\}", body)
    number = {lab: i + 1 for i, lab in enumerate(labels)}

    def autoref(m: re.Match) -> str:
        if m.group(1) not in number:
            sys.exit(f"error: {md_path.name} refers to {m.group(1)}, which no caption labels")
        return f'<a href="#{m.group(1)}">Figure {number[m.group(1)]}</a>'

    body = re.sub(r"\\autoref\{(fig:[\w-]+)\}", autoref, body)

    def caption(m: re.Match) -> str:
        lab = m.group(2)
        return f'<span id="{lab}"></span>![Figure {number[lab]}: {m.group(1)}]'

    body = re.sub(r"!\[([^\]]*?)\\label\{(fig:[\w-]+)\}\]", caption, body)
    body = re.sub(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)", embed, body)
    content = markdown.markdown(body, extensions=["tables", "fenced_code", "sane_lists"])
    refs = "\n".join(_reference(k, bib[k]) for k in sorted(cited, key=lambda k: _cite_label(
        bib[k])))
    authors = meta.get("authors", [])
    authors = ", ".join(authors) if isinstance(authors, list) else str(authors)
    title = html.escape(str(meta.get("title", "")))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{max-width:46em;margin:2em auto;font-family:Georgia,serif;line-height:1.45;
padding:0 1em}} img{{max-width:100%}} table{{border-collapse:collapse;font-size:0.9em}}
td,th{{border:1px solid #bbb;padding:0.2em 0.5em}} code{{font-size:0.9em}}</style>
</head><body>
<h1>{title}</h1>
<p><em>{html.escape(authors)}</em>, {html.escape(str(meta.get("date", "")))}</p>
{content}
<h2>References</h2>
<ol>
{refs}
</ol>
</body></html>
"""
    out.write_text(page)
    return out


def render_pdf(md_path: Path, bib_path: Path, out: Path) -> Path | None:
    """``pandoc --citeproc`` to PDF when pandoc and a LaTeX engine are installed, else None."""
    if shutil.which("pandoc") is None:
        print("[render] pandoc not found: no PDF (the HTML has everything)")
        return None
    proc = subprocess.run(["pandoc", md_path.name, "--citeproc", "--bibliography",
                           bib_path.name, "-o", out.name], cwd=md_path.parent,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"[render] pandoc could not make a PDF: {proc.stderr.strip()[:300]}")
        return None
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rerun", nargs="*", metavar="NAME",
                   help="rerun these experiments (all when none are named) before the figures")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="experiments run at once by --rerun (default 1)")
    p.add_argument("--list", action="store_true", help="list experiments and figures and exit")
    p.add_argument("--no-render", action="store_true", help="figures only, no HTML/PDF")
    p.add_argument("--stamp", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("--stamp-note", default="", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    manifest = load_manifest()
    if a.list:
        total = 0.0
        for name, e in manifest["experiment"].items():
            why = stale_reason(name)
            total += float(e.get("minutes", 0))
            print(f"{name:28s} {e.get('minutes', '?'):>5} min  "
                  f"{'fresh' if why is None else 'STALE: ' + why}")
        print(f"{'rerun total':28s} {total:5.0f} min")
        for name, f in manifest["figure"].items():
            print(f"figure {name:21s} {f['script']} <- {', '.join(f['needs'])}")
        return
    if a.stamp:
        # Outputs made before this manifest existed: record the configs they were made from
        # (the caller states how that was established) without re-running them.
        _write_provenance(a.stamp, manifest["experiment"][a.stamp], None,
                          stamped=a.stamp_note or "stamped without re-running")
        return
    if a.rerun is not None:
        names = a.rerun or list(manifest["experiment"])
        unknown = [n for n in names if n not in manifest["experiment"]]
        if unknown:
            sys.exit(f"error: unknown experiment(s) {unknown}; "
                     f"the manifest lists {sorted(manifest['experiment'])}")
        t0 = time.perf_counter()
        if a.jobs < 1:
            sys.exit(f"error: --jobs must be >= 1, got {a.jobs}")
        times = rerun(names, manifest, jobs=a.jobs)
        log = PAPER / "rerun_times.json"
        record = json.loads(log.read_text()) if log.is_file() else {}
        record.update({n: round(s, 1) for n, s in times.items()})
        log.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"[rerun] total {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    figures(manifest)
    trace_numbers.main()  # every number of paper.md traces to a figure JSON (exits otherwise)
    if not a.no_render:
        md, bib = PAPER / "paper.md", PAPER / "paper.bib"
        print(f"[render] {render_html(md, bib, PAPER / 'paper.html').relative_to(ROOT)}")
        pdf = render_pdf(md, bib, PAPER / "paper.pdf")
        if pdf is not None:
            print(f"[render] {pdf.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
