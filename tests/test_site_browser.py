"""The built site in a real headless browser: offline, math rendered, totals right, search works.

The site is built once per session (``derive.site.build``), served over http on 127.0.0.1 and
opened in Debian's Chromium through Playwright. Every request to a host other than this machine
is aborted and recorded; a page that made one fails. Setup: ``scripts/install-test-tools.sh`` (the
browser) and the ``test`` extra (Playwright). Never ``playwright install``: it downloads a browser.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

import derive
from derive import cache, catalog
from derive.network import builtin_names

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Locator, Page

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1200, "height": 800}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "file"}
SETUP_HINT = ("run scripts/install-test-tools.sh and install the test extra "
              "(pip install -e '.[test]')")

CONTRACT_PAGES = ["index.html", "questions.html", "conventions.html", "compare.html",
                  "compute.html",
                  *(f"cells/{name}.html" for name in derive.cells()),
                  "models/index.html", *(f"models/{name}.html" for name in builtin_names())]

# LaTeX that leaked into prose instead of being converted: a backslash command, display or
# inline delimiters, or a raw subscript (h_{t-1}, z_t) where prose should set it as one.
RAW_TEX = re.compile(r"\\[A-Za-z]+|\$\$|\\[()\[\]]|[^\W\d_]_\{|(?<![\w/.])[^\W\d_]_t\b")

# Every text node of the body (shown or collapsed) with the element it sits in; nodes under
# these elements are not prose: LaTeX source is shown there on purpose.
PROSE_TEXT_JS = """() => {
  const skip = new Set(["PRE", "CODE", "KBD", "SAMP", "SCRIPT", "STYLE", "TEXTAREA", "TEMPLATE",
                        "NOSCRIPT", "MATH", "SVG"]);
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue.trim();
    if (!text) continue;
    let where = null;
    for (let el = node.parentElement; el; el = el.parentElement) {
      if (skip.has(el.tagName.toUpperCase())) { where = null; break; }
      if (where === null) where = el.tagName.toLowerCase() + (el.className && typeof
        el.className === "string" ? "." + el.className.trim().split(/\\s+/).join(".") : "");
    }
    if (where !== null) out.push([where, text]);
  }
  return out;
}"""

# The text of each <math>, less its TeX <annotation> (allowed: it is not shown). MathML text
# is read with textContent: innerText gives math-italic code points.
MATH_TEXT_JS = """() => [...document.querySelectorAll("math")].map(math => {
  const copy = math.cloneNode(true);
  copy.querySelectorAll("annotation, annotation-xml").forEach(a => a.remove());
  return copy.textContent;
})"""

HIT_TEST_JS = """el => {
  const r = el.getBoundingClientRect();
  const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
  return hit !== null && (hit === el || el.contains(hit));
}"""


def _fail_setup(what: str) -> None:
    pytest.fail(f"{what}: {SETUP_HINT}", pytrace=False)


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or (parts.hostname or "") in LOCAL_HOSTS


# ---------------------------------------------------------------------------------------------
# Serving a directory and visiting a page, as plain functions (the self-tests use them too).


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at an ephemeral port; yield the base URL (ends in /)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Visit:
    """What a page did while it loaded."""

    url: str
    external: list[str] = field(default_factory=list)  # aborted: host not this machine
    errors: list[str] = field(default_factory=list)  # console errors, page errors, bad loads

    def problems(self) -> list[str]:
        return ([f"external request: {u}" for u in self.external]
                + [f"error: {e}" for e in self.errors])


def new_context(browser: Browser) -> BrowserContext:
    return browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]


def watch(context: BrowserContext, page: Page, url: str) -> Visit:
    """Abort and record every non-local request of ``context``; record errors of ``page``."""
    visit = Visit(url)

    def route(route: Any) -> None:
        if is_local(route.request.url):
            route.continue_()
        else:
            if route.request.url not in visit.external:
                visit.external.append(route.request.url)
            route.abort()

    def on_request(request: Any) -> None:  # requests that no route sees (e.g. from workers)
        if not is_local(request.url) and request.url not in visit.external:
            visit.external.append(request.url)

    def on_console(message: Any) -> None:
        if message.type == "error":
            visit.errors.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_failed(request: Any) -> None:
        if is_local(request.url):
            visit.errors.append(f"failed to load {request.url}: {request.failure}")

    def on_response(response: Any) -> None:
        if response.status >= 400:
            visit.errors.append(f"HTTP {response.status} for {response.url}")

    context.route("**/*", route)
    context.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda error: visit.errors.append(f"page error: {error}"))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("websocket", lambda ws: visit.external.append(ws.url))
    return visit


def open_page(browser: Browser, url: str) -> tuple[BrowserContext, Page, Visit]:
    """A fresh context and page, watched, navigated to ``url`` and left there to settle."""
    context = new_context(browser)
    page = context.new_page()
    visit = watch(context, page, url)
    page.goto(url, wait_until="networkidle")
    return context, page, visit


def raw_tex_in_prose(page: Page) -> list[str]:
    """Text outside pre/code/math that still looks like LaTeX source."""
    return [f"<{where}>: {text[:120]!r}" for where, text in page.evaluate(PROSE_TEXT_JS)
            if RAW_TEX.search(text)]


def math_problems(page: Page) -> list[str]:
    """MathML that did not convert: a TeX command or '&' kept as text, or an <merror>."""
    found = []
    for text in page.evaluate(MATH_TEXT_JS):
        if "\\" in text:
            found.append(f"TeX left inside <math>: {text.strip()[:120]!r}")
        if "&" in text:  # an alignment mark drawn as a character (aligned, not align*)
            found.append(f"literal '&' inside <math>: {text.strip()[:120]!r}")
    if page.locator("merror").count():
        found.append(f"{page.locator('merror').count()} <merror> element(s)")
    return found


def check_page(browser: Browser, url: str) -> tuple[Visit, list[str], int]:
    """Load ``url``; return what it did, the rendering problems, and its number of <math>."""
    context, page, visit = open_page(browser, url)
    try:
        problems = raw_tex_in_prose(page) + math_problems(page)
        return visit, problems, page.locator("math").count()
    finally:
        context.close()


def first_clickable(page: Page, selector: str) -> Locator | None:
    """The first match a person could click: not hidden, clipped or in a closed nav drawer."""
    for candidate in page.locator(selector).all():
        if not candidate.is_visible():
            continue
        candidate.scroll_into_view_if_needed()
        if candidate.evaluate(HIT_TEST_JS):
            return candidate
    return None


def search(browser: Browser, index_url: str, query: str, want: str) -> tuple[list[str], Visit]:
    """Type ``query`` into Material's search box; wait (15 s at most) for a result whose href
    contains ``want``; return the hrefs of all results."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context, page, visit = open_page(browser, index_url)
    try:
        box = page.locator("input.md-search__input")
        if box.is_visible():  # wide screens: the box sits in the header
            box.click()
        else:  # narrow screens: the header's search button opens it
            page.locator('label[for="__search"]:visible').first.click()
            box.focus()
        box.press_sequentially(query, delay=20)
        results = "a.md-search-result__link, .md-search-result__item a"
        with contextlib.suppress(PlaywrightTimeout):  # the caller's assertion says what showed
            page.wait_for_function(
                "([sel, want]) => [...document.querySelectorAll(sel)]"
                ".some(a => a.href.includes(want))", arg=[results, want], timeout=15_000)
        hrefs = page.eval_on_selector_all(results, "links => links.map(a => a.href)")
        if not hrefs:
            meta = page.locator(".md-search-result__meta").all_text_contents()
            visit.errors.append(f"no search results for {query!r}; result meta: {meta}")
        return hrefs, visit
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------
# Fixtures: the browser (fails, never skips, when it is missing) and the site, built once.


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _fail_setup(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _fail_setup("the Python package playwright is not installed")
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        except Exception as error:
            _fail_setup(f"Chromium did not start ({error})")
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from derive.site import build

    out = tmp_path_factory.mktemp("site") / "site"
    build(out, quiet=True)
    assert (out / "index.html").is_file(), f"build() wrote no index.html into {out}"
    return out


@pytest.fixture(scope="session")
def base_url(site: Path) -> Iterator[str]:
    with serve(site) as url:
        yield url


def site_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if p.name != "404.html")


# ---------------------------------------------------------------------------------------------
# Self-tests: the detectors can fail (on a tiny hand-made site, no build needed).


def test_detectors_catch_a_cdn_request_and_leaked_tex(browser: Browser, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><title>t</title>"
        '<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/katex/dist/katex.min.css">'
        "</head><body><h1>t</h1>"
        '<img src="https://example.com/x.png" alt="">'
        r"<p>The gate is \sigma(\mathbf{W}_{ii} x) and $$a$$.</p>"
        r"<pre><code>\begin{align*} i_t &amp;= \sigma(x) \end{align*}</code></pre>"
        "<math><mi>&#963;</mi><mo>&amp;</mo><mo>=</mo><mi>x</mi></math>"
        "<script>fetch('https://example.org/api').catch(() => {});</script>"
        "</body></html>", encoding="utf-8")
    (tmp_path / "clean.html").write_text(
        "<!doctype html><html><head><title>c</title></head><body><p>x</p>"
        r"<pre>\frac{a}{b}</pre><math><mfrac><mi>a</mi><mi>b</mi></mfrac></math>"
        "</body></html>", encoding="utf-8")
    with serve(tmp_path) as url:
        visit, problems, n_math = check_page(browser, url + "index.html")
        clean_visit, clean_problems, _ = check_page(browser, url + "clean.html")
    hosts = {urlsplit(u).hostname for u in visit.external}
    assert hosts == {"cdn.jsdelivr.net", "example.com", "example.org"}, visit.problems()
    assert len(problems) == 2, problems  # the <pre> is allowed
    assert "mathbf" in problems[0] and "literal '&'" in problems[1], problems
    assert n_math == 1
    assert clean_visit.problems() == [] and clean_problems == [], (clean_visit, clean_problems)


# ---------------------------------------------------------------------------------------------
# The real site.


def test_build_writes_every_contract_page(site: Path) -> None:
    missing = [page for page in CONTRACT_PAGES if not (site / page).is_file()]
    assert not missing, f"not built: {missing}; built: {site_pages(site)}"


@pytest.mark.parametrize("page", CONTRACT_PAGES)
def test_page_is_offline_and_its_math_rendered(browser: Browser, site: Path, base_url: str,
                                               page: str) -> None:
    assert (site / page).is_file(), f"{page} was not built; built: {site_pages(site)}"
    visit, problems, n_math = check_page(browser, base_url + page)
    assert not visit.problems(), f"{page}:\n" + "\n".join(visit.problems())
    assert not problems, f"{page}:\n" + "\n".join(problems)
    if page.startswith("cells/"):
        assert n_math > 0, f"{page} has no <math> element: its equations are not MathML"


def test_every_other_page_is_offline_and_its_math_rendered(browser: Browser, site: Path,
                                                           base_url: str) -> None:
    failures = []
    for page in site_pages(site):
        if page in CONTRACT_PAGES:
            continue
        visit, problems, _ = check_page(browser, base_url + page)
        failures += [f"{page}: {p}" for p in visit.problems() + problems]
    assert not failures, "\n".join(failures)


def test_the_site_shows_math(browser: Browser, base_url: str) -> None:
    context, page, _ = open_page(browser, base_url + "cells/lstm.html")
    try:
        sizes = page.evaluate("""() => [...document.querySelectorAll("math")].map(m => {
          const r = m.getBoundingClientRect(); return [r.width, r.height]; })""")
    finally:
        context.close()
    assert any(w > 0 and h > 0 for w, h in sizes), f"no <math> on cells/lstm.html is drawn: {sizes}"


def test_index_works_from_a_file_url(browser: Browser, site: Path) -> None:
    visit, problems, _ = check_page(browser, (site / "index.html").as_uri())
    assert not visit.external, "\n".join(visit.problems())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("framework", ["pytorch", "keras"])
def test_seed_question_totals_match_derive(browser: Browser, base_url: str,
                                           framework: str) -> None:
    expected = derive.count("lstm", framework, input_size=512, hidden_size=256,
                            bidirectional=True).total
    context, page, visit = open_page(browser, base_url + "questions.html")
    try:
        spans = page.locator(f'span.derive-total[data-key="seed-{framework}"]')
        assert spans.count() >= 1, f'no <span class="derive-total" data-key="seed-{framework}">'
        shown = [text.strip().replace(",", "") for text in spans.all_text_contents()]
    finally:
        context.close()
    assert shown == [str(expected)] * len(shown), (shown, expected)
    assert not visit.problems(), "\n".join(visit.problems())


def test_navigation_from_index_reaches_the_lstm_page(browser: Browser, base_url: str) -> None:
    context, page, visit = open_page(browser, base_url + "index.html")
    try:
        link = first_clickable(page, 'a[href$="cells/lstm.html"]')
        assert link is not None, 'index.html has no clickable link a[href$="cells/lstm.html"]'
        link.click()
        page.wait_for_load_state("networkidle")
        url, title = page.url, page.title()
        h1 = page.locator("h1").first.text_content() if page.locator("h1").count() else ""
    finally:
        context.close()
    assert re.search(r"/cells/lstm\.html$", url), url
    assert "lstm" in f"{title} {h1}".lower(), (title, h1)
    assert not visit.problems(), "\n".join(visit.problems())


@pytest.mark.parametrize("over", ["http", "file"])
def test_search_finds_the_peephole_cell(browser: Browser, site: Path, base_url: str,
                                        over: str) -> None:
    index = base_url + "index.html" if over == "http" else (site / "index.html").as_uri()
    hrefs, visit = search(browser, index, "peephole", "cells/lstm-peephole.html")
    assert any("cells/lstm-peephole.html" in href for href in hrefs), (
        f"search over {over} for 'peephole': results {hrefs}; {visit.problems()}")
    assert not visit.external, "\n".join(visit.problems())


def _calc_configs() -> list[tuple[str, str, dict[str, Any]]]:
    """20 seeded configurations over the catalog's cells and conventions, one beyond 2^53."""
    import random

    from derive.counting import load

    rng = random.Random(53)
    out = []
    for i in range(20):
        cell = rng.choice(["lstm", "gru", "rnn", "lstmp", "lstm-peephole", "cifg",
                           "gru-reset-before"])
        data, _ = load(cell, {})
        framework = rng.choice(list(data["conventions"]))
        stackable = data["conventions"][framework]["stackable"]
        h = rng.randint(2, 3000) if i else 2**40 + 7  # the first one: counts far past 2^53
        sizes = {"input_size": rng.randint(1, 3000), "hidden_size": h}
        if cell == "lstmp":
            sizes["proj_size"] = rng.randint(1, h - 1)
        out.append((cell, framework, {
            **sizes, "num_layers": rng.randint(1, 4) if stackable else 1,
            "bidirectional": stackable and rng.random() < 0.5, "bias": rng.random() < 0.8,
            "batch": rng.randint(1, 64), "seq_len": rng.randint(1, 500)}))
    return out


def test_model_calculator_equals_the_engine(browser: Browser, base_url: str) -> None:
    """Each model page's calculator at the paper's rows, and past 2^53, against
    derive.assemble; a size of 0 is reported, not computed."""
    from derive import assemble

    context = new_context(browser)
    page = context.new_page()
    visit = watch(context, page, base_url)
    mismatches = []
    try:
        for name in builtin_names():
            model = assemble.assemble(name)
            rows = [r.config for r in model.net.rows]
            rows.append({s.name: 10**9 + i for i, s in enumerate(model.net.symbols)
                         if s.value is None and s.name != "L"} | (
                             {"L": 3} if "L" in model.order else {}))
            page.goto(base_url + f"models/{name}.html", wait_until="networkidle")
            calc = page.locator(".derive-model-calc")
            for config in rows:
                for sym, value in config.items():
                    calc.locator(f'input[name="{sym}"]').fill(str(value))
                want = assemble.count(model, config).total
                got = calc.locator(".calc-total").get_attribute("data-value")
                if got != str(want):
                    mismatches.append((name, config, got, want))
            assert want > 2**53, (name, want)
            first = model.net.symbols[0].name
            calc.locator(f'input[name="{first}"]').fill("0")
            error = calc.locator(".calc-error").text_content() or ""
            assert f"{first} must be a positive integer" in error, (name, error)
    finally:
        context.close()
    assert not mismatches, mismatches
    assert not visit.external, visit.external


def test_calculator_equals_the_engine(browser: Browser, base_url: str) -> None:
    """Type sizes into each cell page's calculator; read back what it computed."""
    from derive.costing import flops, memory

    configs = _calc_configs()
    assert any(derive.count(c, f, **{k: v for k, v in o.items()
                                     if k not in ("batch", "seq_len")}).total > 2**53
               for c, f, o in configs)
    context = new_context(browser)
    page = context.new_page()
    visit = watch(context, page, base_url)
    mismatches = []
    try:
        for cell, framework, opts in configs:
            page.goto(base_url + f"cells/{cell}.html", wait_until="networkidle")
            calc = page.locator(".derive-calc")
            calc.locator("select[name=framework]").select_option(framework)
            for key in ("input_size", "hidden_size", "proj_size", "num_layers", "batch",
                        "seq_len"):
                if key in opts and calc.locator(f"input[name={key}]").is_enabled():
                    calc.locator(f"input[name={key}]").fill(str(opts[key]))
            if opts["bidirectional"]:
                calc.locator("input[name=bidirectional]").check()
            convs = cache.compiled(catalog.resolve(cell))["conventions"]
            if convs[framework]["bias_optional"]:
                calc.locator("input[name=bias]").set_checked(opts["bias"])
            else:  # TF1 has no switch for its biases: the box is disabled, and checked
                assert calc.locator("input[name=bias]").is_disabled()
                opts = dict(opts, bias=True)
            shape = {k: v for k, v in opts.items() if k not in ("batch", "seq_len")}
            want = derive.count(cell, framework, **shape).total
            got = calc.locator(".calc-total").get_attribute("data-value")
            rows = calc.locator("table.calc-tensors tr").last.locator("td").all_text_contents()
            flop_rows = {r.locator("td").first.text_content(): r.locator("td").nth(1)
                         .text_content() for r in calc.locator("table.calc-flops tbody tr").all()}
            printed = {r.locator("td").first.text_content(): r.locator("td").nth(2)
                       .text_content() for r in calc.locator("table.calc-flops tbody tr").all()}
            mem = calc.locator("table.calc-memory tbody tr").nth(2).locator("td").nth(1)
            want_flops = {n: f"{flops(cell, framework, n, seq_len=opts['seq_len'], batch=opts['batch'], **shape).total:,}"  # noqa: E501
                          for n in ("flops", "thop", "calflops")}
            want_kept = memory(cell, framework, seq_len=opts["seq_len"], batch=opts["batch"],
                               **shape).kept_values
            for row in calc.locator("table.calc-conventions tbody tr").all():
                other, _title, shown = row.locator("td").all_text_contents()
                single = other.endswith("-cell") and (shape["num_layers"] > 1
                                                      or shape["bidirectional"])
                mine = dict(shape, bias=shape["bias"] or not convs[other]["bias_optional"])
                expect = "—" if single else str(derive.count(cell, other, **mine).total)
                if shown.split(" ")[0].replace(",", "") != expect:
                    mismatches.append((cell, other, shape, shown, expect))
            for n in ("ptflops", "calflops"):
                f = flops(cell, framework, n, seq_len=opts["seq_len"], batch=opts["batch"],
                          **shape)
                if printed[n] != ("" if f.printed == f.total else f"{f.printed:,}"):
                    mismatches.append((cell, framework, n, printed[n], f.printed))
            if (got != str(want) or rows[-1].replace(",", "") != str(want)
                    or any(flop_rows.get(n) != v for n, v in want_flops.items())
                    or mem.text_content().replace(",", "") != str(want_kept)):
                mismatches.append((cell, framework, opts, got, want, rows[-1], flop_rows,
                                   want_flops, mem.text_content(), want_kept))
        # an impossible size is reported, not computed
        page.goto(base_url + "cells/lstmp.html", wait_until="networkidle")
        page.locator(".derive-calc input[name=proj_size]").fill("999")
        error = page.locator(".derive-calc .calc-error").text_content()
    finally:
        context.close()
    assert not mismatches, mismatches
    assert error == "proj_size has to be smaller than hidden_size"
    assert not visit.problems(), "\n".join(visit.problems())


@pytest.mark.parametrize(("page", "name"), [("index.html", "index.png"),
                                            ("cells/lstm.html", "cell-lstm.png"),
                                            ("compute.html", "compute.png")])
def test_screenshot(browser: Browser, site: Path, base_url: str, page: str, name: str) -> None:
    assert (site / page).is_file(), f"{page} was not built"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context, tab, _ = open_page(browser, base_url + page)
    try:
        tab.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    finally:
        context.close()
    assert (SCREENSHOTS / name).stat().st_size > 1000


# ---------------------------------------------------------------------------------------------
# The site as its readers need it: two screen widths, the answer first, links that open.

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

OVERFLOW_JS = """() => {
  const main = document.querySelector(".md-content");
  const limit = main.getBoundingClientRect().right + 1;
  const out = [];
  for (const el of main.querySelectorAll("table, pre, .derive-formula, .derive-eq, svg, p")) {
    let clipped = false;  // inside a scrolling box, an element may be wider: that is allowed
    for (let up = el.parentElement; up && up !== main; up = up.parentElement) {
      const s = getComputedStyle(up);
      if (["auto", "scroll", "hidden"].includes(s.overflowX)) { clipped = true; break; }
    }
    const s = getComputedStyle(el);
    if (!clipped && !["auto", "scroll", "hidden"].includes(s.overflowX)
        && el.getBoundingClientRect().right > limit && el.offsetParent !== null)
      out.push(el.tagName + (el.className ? "." + el.className : ""));
  }
  return out;
}"""


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_no_page_overflows_the_content_column(browser: Browser, base_url: str,
                                              width: str) -> None:
    context = browser.new_context(viewport=WIDTHS[width])  # type: ignore[arg-type]
    page = context.new_page()
    bad = {}
    try:
        for name in ["index.html", "questions.html", "conventions.html", "compare.html",
                     "compute.html", "cells/lstm.html", "cells/convlstm2d.html",
                     "cells/mlstm.html", "cells/lstmp.html"]:
            page.goto(base_url + name, wait_until="networkidle")
            found = page.evaluate(OVERFLOW_JS)
            if found:
                bad[name] = found[:5]
    finally:
        context.close()
    assert not bad, bad


@pytest.mark.parametrize("cell", ["lstm", "gru", "convlstm2d", "mlstm"])
def test_the_first_screen_answers(browser: Browser, base_url: str, cell: str) -> None:
    """At 1280×800, the first screen of a cell page shows its total at the default
    configuration (the calculator's, equal to the engine's) and the calculator's inputs."""
    from derive.counting import example_sizes

    context = browser.new_context(viewport=WIDTHS["desktop"])  # type: ignore[arg-type]
    page = context.new_page()
    try:
        page.goto(base_url + f"cells/{cell}.html", wait_until="networkidle")
        data = cache.compiled(catalog.resolve(cell))
        framework = "pytorch" if "pytorch" in data["conventions"] else "equations"
        want = derive.count(cell, framework, **example_sizes(data)).total
        total = page.locator(".derive-calc .calc-total")
        assert total.get_attribute("data-value") == str(want)
        for el in (total, page.locator(".derive-calc input").first):
            box = el.bounding_box()
            assert box is not None and box["y"] + box["height"] <= 800, (cell, box)
    finally:
        context.close()


def test_a_link_to_a_derivation_opens_it(browser: Browser, base_url: str) -> None:
    context, page, _ = open_page(browser, base_url + "cells/lstm.html#derivation-W_hi")
    try:
        assert page.locator("details#derivation-W_hi").get_attribute("open") is not None
        assert page.locator("details#derivation-W_ii").get_attribute("open") is None
        page.locator("details#derivation-W_ii .derive-link").evaluate("a => a.click()")
        assert page.locator("details#derivation-W_ii").get_attribute("open") is not None
    finally:
        context.close()


def test_the_calculator_state_round_trips_through_the_address(browser: Browser,
                                                              base_url: str) -> None:
    context, page, _ = open_page(browser, base_url + "cells/lstm.html")
    try:
        calc = page.locator(".derive-calc")
        calc.locator("select[name=framework]").select_option("keras")
        calc.locator("input[name=hidden_size]").fill("300")
        calc.locator("input[name=bidirectional]").check()
        url = page.url
        assert "fw=keras" in url and "h=300" in url and "bi=1" in url
        shown = calc.locator(".calc-total").get_attribute("data-value")
        assert shown == str(derive.count("lstm", "keras", input_size=512, hidden_size=300,
                                         bidirectional=True).total)
        fresh = context.new_page()
        fresh.goto(url, wait_until="networkidle")
        again = fresh.locator(".derive-calc")
        assert again.locator("select[name=framework]").input_value() == "keras"
        assert again.locator(".calc-total").get_attribute("data-value") == shown
    finally:
        context.close()


def test_the_light_dark_toggle_works_offline(browser: Browser, base_url: str) -> None:
    context, page, visit = open_page(browser, base_url + "index.html")
    try:
        scheme = page.evaluate("() => document.body.getAttribute('data-md-color-scheme')")
        page.locator("form[data-md-component=palette] label:visible").first.click()
        other = page.evaluate("() => document.body.getAttribute('data-md-color-scheme')")
        assert {scheme, other} == {"default", "slate"}
        assert not visit.external
    finally:
        context.close()


@pytest.mark.parametrize("page", ["index.html", "cells/lstm.html", "cells/convlstm2d.html",
                                  "cells/mlstm.html", "compare.html"])
@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_screenshots_at_both_widths(browser: Browser, base_url: str, page: str,
                                    width: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=WIDTHS[width])  # type: ignore[arg-type]
    tab = context.new_page()
    out = SCREENSHOTS / f"{page.replace('/', '-').removesuffix('.html')}-{width}.png"
    try:
        tab.goto(base_url + page, wait_until="networkidle")
        tab.screenshot(path=str(out))
    finally:
        context.close()
    assert out.stat().st_size > 1000


def test_printing_keeps_the_math(browser: Browser, base_url: str) -> None:
    context, page, _ = open_page(browser, base_url + "cells/lstm.html")
    try:
        page.emulate_media(media="print")
        shown = page.evaluate("""() => [...document.querySelectorAll("math")].filter(
            m => m.getBoundingClientRect().width > 0).length""")
        assert shown > 20
        assert page.locator(".derive-calc").first.is_hidden()  # no form on paper
        pdf = page.pdf()
        assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    finally:
        context.close()


def test_every_number_in_the_answers_is_re_derived(site: Path) -> None:
    """The questions page and the overview state numbers with the sizes beside them; each is
    recomputed here from those sizes, independently of the page's own build code."""
    questions = (site / "questions.html").read_text(encoding="utf-8")
    index = (site / "index.html").read_text(encoding="utf-8")
    seed = dict(input_size=512, hidden_size=256, bidirectional=True)
    pt, ke = derive.count("lstm", "pytorch", **seed).total, derive.count("lstm", "keras", **seed)
    two = derive.count("lstm", "pytorch", num_layers=2, **seed).total
    peep = (derive.count("lstm-peephole", "onnx", input_size=10, hidden_size=20,
                         bidirectional=True).total
            - derive.count("lstm", "onnx", input_size=10, hidden_size=20,
                           bidirectional=True).total)
    assert "LSTM, input 512, hidden 256, bidirectional" in questions
    for page in (questions, index):
        assert f">{pt:,}<" in page and f"{ke.total:,}" in page
        assert f"{pt // 2:,}" in page  # per direction
    assert f"{two:,}" in questions
    assert f"input size 10 and hidden\nsize 20 that is {peep:,} for one bidirectional layer" \
        in questions.replace("<p>", "")
    gru = derive.count("gru", "keras", input_size=512, hidden_size=256).total
    gru_before = derive.count("gru", "keras", input_size=512, hidden_size=256,
                              reset_after=False).total
    assert f"{gru:,} against {gru_before:,}" in questions
