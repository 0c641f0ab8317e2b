"""Draw the outcome of `shapecli check` (baseline.Result list): a rich table, markdown for a pull
request comment, GitHub workflow annotations, or JSON. No torch here; rich only inside
`print_table`.
"""
from __future__ import annotations

import json

from shapecli.baseline.changes import Change, Detail
from shapecli.baseline.checkpoint import is_checkpoint
from shapecli.baseline.results import Result, check_document, summary, total_bytes
from shapecli.errors import literal
from shapecli.view.units import human_bytes

FORMATS = ("table", "json", "markdown", "github")  # check --format

TITLE_REGRESSION = "shape regression"
TITLE_ERROR = "shapecli error"
TITLE_UPDATED = "baseline updated"
TITLE_TOTALS = "shapecli totals"
TITLE_MISMATCH = "baseline of another spec"


# ---------------------------------------------------------------------------- shared pieces

def rows(c: Change) -> list:
    """(what, old, new) rows for one change; a bare move or add/remove gets one row of its own."""
    det = list(c.details)
    if c.kind == "moved":
        det.insert(0, Detail("path", c.old_path, c.path))
    out = []
    for d in det:
        out.append((d.what, d.old if d.old is not None else "—", d.new if d.new is not None else "—"))
    if not out:
        out.append(("", "", ""))
    return out


def change_label(c: Change) -> str:
    if c.kind in ("added", "removed") and c.nested:
        return f"{c.kind} (+{c.nested} nested)"
    return {"input": "changed", "totals": "changed", "stats": "init stats"}.get(c.kind, c.kind)


def layer_cell(c: Change) -> str:
    if c.kind == "input":
        return "(input)"
    if not c.path:
        return "(network)"
    return c.path


def _signed(n: int) -> str:
    return f"+{n:,}" if n > 0 else f"{n:,}"


def _signed_bytes(n: int) -> str:
    return ("+" if n > 0 else "-" if n < 0 else "±") + human_bytes(abs(n))


def totals_line(r: Result, arrow: str = "→") -> str:
    """'params 7,946 → 13,066 (+5,120) · size 31.04 KiB → 51.04 KiB (+20.00 KiB)'"""
    a, b = r.old_totals, r.new_totals
    if a is None or b is None:
        return ""
    pa, pb = a["params"], b["params"]
    ba, bb = total_bytes(a), total_bytes(b)
    s = f"params {pa:,} {arrow} {pb:,} ({_signed(pb - pa)})" if pa != pb else f"params {pb:,} (unchanged)"
    if b["trainable"] - a["trainable"] != pb - pa:
        s += f" · trainable {a['trainable']:,} {arrow} {b['trainable']:,} ({_signed(b['trainable'] - a['trainable'])})"
    s += (f" · size {human_bytes(ba)} {arrow} {human_bytes(bb)} ({_signed_bytes(bb - ba)})" if ba != bb
          else f" · size {human_bytes(bb)}")
    return s


def headline(results: list) -> str:
    s = summary(results)
    parts = [f"{s['checked']} spec{'s' if s['checked'] != 1 else ''} checked"]
    for k, word in (("ok", "ok"), ("changed", "changed"), ("error", "could not be checked"), ("skipped", "skipped")):
        if s[k]:
            parts.append(f"{s[k]} {word}")
    if s["written"]:
        parts.append(f"{s['written']} baseline{'s' if s['written'] != 1 else ''} written")
    return ": ".join(parts[:2]) + (", " + ", ".join(parts[2:]) if len(parts) > 2 else "")


def _status_text(r: Result) -> str:
    n = len(r.changes)
    if r.status == "ok" and r.written == "created":
        return f"baseline created ({r.baseline})"
    if r.status == "ok" and r.baseline and is_checkpoint(r.baseline):
        return "matches the checkpoint"
    if r.status == "ok":
        return "matches its baseline" + (f" ({r.written} {r.baseline})" if r.written else "")
    if r.status == "changed":
        s = f"{n} change{'s' if n != 1 else ''}"
        return s + (f", {r.written} {r.baseline}" if r.written else "")
    if r.status == "skipped":
        return "skipped (no baseline)"
    return "could not be checked"


# ---------------------------------------------------------------------------- rich table

def print_table(results: list, file=None, force_terminal=None, width=None) -> None:
    """One block per spec (an error: its first message; all of them go to stderr, one line each)."""
    from shapecli.render.terminal import console

    con = console(file, force_terminal, width)
    if not con.is_terminal:  # plain text: without the table's trailing padding
        with con.capture() as cap:
            _table(con, results)
        out = "".join(line.rstrip() + "\n" for line in cap.get().splitlines())
        con.file.write(out)
        return
    _table(con, results)


def _table(con, results: list) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    for r in results:
        head = Text()
        mark, style = {"ok": ("✓", "green"), "changed": ("✗", "red"), "error": ("✗", "red"),
                       "skipped": ("-", "dim")}[r.status]
        if r.status == "changed" and r.written:
            mark, style = ("↻", "yellow")
        head.append(mark + " ", style=style)
        head.append(literal(r.spec, 200), style="bold")
        if r.name:
            head.append(f" ({literal(r.name)})", style="dim")
        head.append(": " + _status_text(r), style=style)
        if r.status == "error" and r.errors:
            head.append(": " + literal(r.errors[0].message, 160), style="dim")
        if r.status == "ok" and r.new_totals:
            head.append(f" ({r.new_totals['params']:,} params)", style="dim")
        con.print(head)
        if r.mismatch:
            con.print(Text("  warning: " + literal(r.mismatch, 400), style="yellow"))
        if r.changes:
            t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1))
            body = [(c, i, what, old, new) for c in r.changes for i, (what, old, new) in enumerate(rows(c))]
            whole = {"Layer": max([len(literal(layer_cell(c))) for c in r.changes] + [5]),  # never cut: these keep
                     "Old": max([len(literal(b[3])) for b in body] + [3]),                # their full width; the
                     "New": max([len(literal(b[4])) for b in body] + [3])}                # others may wrap
            for col, just in (("Line", "right"), ("Layer", "left"), ("Type", "left"), ("Change", "left"),
                              ("What", "left"), ("Old", "left"), ("New", "left")):
                t.add_column(col, justify=just, no_wrap=col in whole or col == "Line", min_width=whole.get(col),
                             overflow="fold")
            for c in r.changes:
                for i, (what, old, new) in enumerate(rows(c)):
                    first = i == 0
                    t.add_row(Text(str(c.line) if first and c.line else ""),
                              Text(literal(layer_cell(c)) if first else "", style="bold"),
                              Text(literal(c.type) if first else "", style="cyan"),
                              Text(change_label(c) if first else "", style=_kind_style(c.kind)),
                              Text(literal(what)), Text(literal(old), style="red" if old != "—" else "dim"),
                              Text(literal(new), style="green" if new != "—" else "dim"))
            con.print(t)
            line = totals_line(r)
            if line:
                con.print(Text("  " + line))
        for n in r.notes:
            con.print(Text("  " + literal(n, 400), style="dim"))
    if len(results) > 1 or not results:
        con.print(Text(headline(results), style="bold"))


def _kind_style(kind: str) -> str:
    return {"added": "green", "removed": "red", "moved": "yellow", "changed": "yellow"}.get(kind, "")


# ---------------------------------------------------------------------------- markdown

def md_text(s: str) -> str:
    """Plain text in a markdown table cell: no markup, no cell breaks, no HTML."""
    s = literal(s, 400)
    for ch in "\\`*_[]<>|#~":
        s = s.replace(ch, "\\" + ch)
    return s


def md_code(s: str) -> str:
    s = literal(s, 400).replace("|", "\\|")
    if not s:
        return ""
    if "`" in s:
        return "`` " + s + " ``"
    return f"`{s}`"


def render_markdown(results: list) -> str:
    s = summary(results)
    bad = s["changed"] + s["error"]
    out = [f"### shapecli check: {headline(results)}", ""]
    if not bad and results:
        out[0] = f"### shapecli check: ✅ {headline(results)}"
    for r in results:
        icon = {"ok": "✅", "changed": "❌", "error": "⚠️", "skipped": "➖"}[r.status]
        if r.status == "changed" and r.written:
            icon = "🔄"
        name = f" ({md_text(r.name)})" if r.name else ""
        out.append(f"{icon} **{md_code(r.spec)}**{name}: {md_text(_status_text(r))}")
        out.append("")
        if r.mismatch:
            out.append(f"⚠️ {md_text(r.mismatch)}")
            out.append("")
        for p in r.errors:
            out.append(f"- {md_text(str(p))}")
        if r.errors:
            out.append("")
        if r.changes:
            out.append("| Line | Layer | Type | Change | What | Old | New |")
            out.append("| ---: | --- | --- | --- | --- | --- | --- |")
            for c in r.changes:
                for i, (what, old, new) in enumerate(rows(c)):
                    first = i == 0
                    cells = [str(c.line) if first and c.line else "", md_code(layer_cell(c)) if first else "",
                             md_text(c.type) if first else "", md_text(change_label(c)) if first else "",
                             md_text(what), md_code(old) if old != "—" else "—", md_code(new) if new != "—" else "—"]
                    out.append("| " + " | ".join(cells) + " |")
            out.append("")
            line = totals_line(r)
            if line:
                out.append(md_text(line))
                out.append("")
        for n in r.notes:
            out.append(f"_{md_text(n)}_")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------- GitHub annotations

def gh_data(s: str) -> str:
    """A workflow command's message: % CR LF escaped (GitHub's escapeData)."""
    return str(s).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def gh_property(s: str) -> str:
    """A workflow command's property value (file, title): also : and , (GitHub's escapeProperty)."""
    return gh_data(s).replace(":", "%3A").replace(",", "%2C")


def gh_command(level: str, message: str, file: str | None = None, line: int | None = None,
               col: int | None = None, title: str | None = None) -> str:
    props = []
    if file:
        props.append(f"file={gh_property(file)}")
    if line:
        props.append(f"line={int(line)}")
    if col and line:
        props.append(f"col={int(col)}")
    if title:
        props.append(f"title={gh_property(title)}")
    return f"::{level} {','.join(props)}::{gh_data(message)}" if props else f"::{level}::{gh_data(message)}"


GITHUB_SHOWN = 10  # a step's error annotations GitHub shows (also 10 warnings and 10 notices; actions/toolkit docs)


def render_github(results: list) -> str:
    """Workflow commands: at most one annotation per spec line (GitHub draws it on that line of the pull
    request's diff), the first change there in full and the others named; at most GITHUB_SHOWN shape
    regressions in all, the lines beyond them listed in their spec's notice, which also gives the totals."""
    out = []
    shown = 0
    for r in results:
        errors: dict = {}
        for p in r.errors:
            loc = p.loc
            file = loc.file if loc and loc.file and not loc.file.startswith("<") else r.spec
            msg = (f"layer {p.layer}: " if p.layer else "") + p.message
            errors.setdefault((file, loc.line if loc else None), []).append((msg, loc.col if loc else None, p.layer))
        for (file, line), group in errors.items():
            msg, col, _ = group[0]
            out.append(gh_command("error", msg + _more([g[2] or g[0] for g in group[1:]], "problem"), file, line,
                                  col, TITLE_ERROR))
            shown += 1  # never left out: a spec that could not be checked is worse than a change
        if r.mismatch:
            out.append(gh_command("warning", r.mismatch, r.spec, None, None, TITLE_MISMATCH))
        level, title = ("notice", TITLE_UPDATED) if r.written else ("error", TITLE_REGRESSION)
        by_line: dict = {}
        for c in r.changes:
            by_line.setdefault(c.line or None, []).append(c)
        unshown = []
        for line, group in by_line.items():
            if level == "error" and shown >= GITHUB_SHOWN:
                unshown.append(line)
                continue
            shown += level == "error"
            out.append(gh_command(level, group[0].message() + _more([layer_cell(c) for c in group[1:]], "change"),
                                  r.spec, line, None, title))
        if r.changes and not r.written and r.old_totals and r.new_totals:
            n, lines = len(r.changes), len(by_line)
            text = ""  # one change per annotation: the annotations say it all
            if n > lines or unshown:
                text = f"{n} changes on {lines} line{'s' if lines != 1 else ''}"
            if unshown:
                where = ", ".join(str(x) if x else "(no line)" for x in unshown)
                text += f" (not annotated, past GitHub's {GITHUB_SHOWN}: line{'s' if len(unshown) != 1 else ''} {where})"
            text = f"{text} · {totals_line(r, '->')}" if text else totals_line(r, "->")
            out.append(gh_command("notice", text, r.spec, None, None, TITLE_TOTALS))
    return "".join(line + "\n" for line in out)


GITHUB_NAMED = 5  # the other changes on a line that an annotation names before it only counts them


def _more(others: list, what: str) -> str:
    """'; 3 more changes on this line: layer1.1, layer2.0.0, layer3 (+1)', or '' for none."""
    if not others:
        return ""
    names = ", ".join(literal(str(o), 80) for o in others[:GITHUB_NAMED])
    rest = f" (+{len(others) - GITHUB_NAMED})" if len(others) > GITHUB_NAMED else ""
    return f"; {len(others)} more {what}{'s' if len(others) != 1 else ''} on this line: {names}{rest}"


# ---------------------------------------------------------------------------- JSON

def render_json(results: list) -> str:
    return json.dumps(check_document(results), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
