"""tools.offline_html on the pages asv 0.6.6 really publishes (its www/ folder, which
`asv publish` copies into html/): every CDN asset replaced by a vendored copy whose
integrity hash matches its bytes, nothing external left, no network used, idempotent.
The browser test renders the result with the network off; this file checks the files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require

require("asv")
import asv  # noqa: E402

from tools import asvkit  # noqa: E402
from tools import offline_html as offline  # noqa: E402

REPO_ROOT = asvkit.ROOT

ASV_WWW = Path(asv.__file__).parent / "www"
VENDOR = REPO_ROOT / "tools" / "vendor"
MANIFEST = json.loads((VENDOR / "manifest.json").read_text())


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """What `asv publish` leaves before any data: asv's www/ files, copied as it does."""
    html = tmp_path / "html"
    shutil.copytree(ASV_WWW, html)
    return html


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test: the tool must work offline."""

    def refuse(*args, **kwargs):
        raise AssertionError("offline_html tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def tags_with_integrity(page: str) -> list[tuple[str, str]]:
    """(url, integrity) of every <script src> / <link href> that carries an integrity."""
    found = []
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", page):
        url = re.search(r'(?:src|href)="([^"]+)"', tag)
        integrity = re.search(r'integrity="([^"]+)"', tag)
        if url and integrity:
            found.append((url.group(1), integrity.group(1)))
    return found


def sri_of(data: bytes, algorithm: str) -> str:
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}-{base64.b64encode(digest).decode()}"


def test_stock_page_loads_what_the_manifest_maps() -> None:
    stock = (ASV_WWW / "index.html").read_text()
    external = offline.external_resources(stock)
    assert len(external) == 10  # jquery, 4 flot, orderbars, stupidtable, md5, bootstrap x2
    assert sorted(external) == sorted(MANIFEST["urls"])


def test_every_page_is_rewritten_to_vendored_copies(published: Path, no_network) -> None:
    rewrites = offline.make_offline(published)
    assert sum(r.replaced for r in rewrites) == 10
    for page in published.glob("*.html"):
        text = page.read_text()
        assert offline.external_resources(text) == [], page
        assert "cdnjs" not in text and "jsdelivr" not in text and "code.jquery" not in text
        assert "crossorigin" not in text  # same-origin now: CORS mode would add nothing
    index = (published / "index.html").read_text()
    vendored = tags_with_integrity(index)
    assert len(vendored) == 10
    for url, integrity in vendored:
        assert url.startswith("vendor/"), url
        data = (published / url).read_bytes()  # the copy the browser will load ...
        assert integrity == sri_of(data, "sha384")  # ... matches the page's hash
        assert data == (VENDOR / url.removeprefix("vendor/")).read_bytes()
    # Load order and everything else on the page are untouched.
    stock = (ASV_WWW / "index.html").read_text()
    assert [u for u, _ in vendored] == [
        "vendor/" + MANIFEST["urls"][u] for u in offline.external_resources(stock)
    ]
    untouched = [line for line in stock.splitlines() if "integrity=" not in line]
    assert untouched == [line for line in index.splitlines() if "integrity=" not in line]


def test_rewrite_is_idempotent(published: Path) -> None:
    offline.make_offline(published)
    first = {p: p.read_bytes() for p in published.rglob("*") if p.is_file()}
    offline.make_offline(published)
    second = {p: p.read_bytes() for p in published.rglob("*") if p.is_file()}
    assert first == second


def test_vendored_files_match_the_manifest_and_the_cdn() -> None:
    on_disk = sorted(
        str(p.relative_to(VENDOR))
        for p in VENDOR.rglob("*")
        if p.is_file() and p.name not in ("manifest.json", "README.md")
    )
    assert on_disk == sorted(MANIFEST["files"])
    for rel, meta in MANIFEST["files"].items():
        data = (VENDOR / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], rel
        assert sri_of(data, "sha384") == meta["sha384"], rel
        assert len(data) == meta["bytes"], rel
    # Where the npm file is the very file the CDN serves, asv's own integrity hash (which
    # the CDN file satisfies) must match ours: provenance checked, not just claimed.
    stock = (ASV_WWW / "index.html").read_text()
    identical = 0
    for url, integrity in tags_with_integrity(stock):
        algorithm = integrity.split("-", 1)[0]
        if sri_of((VENDOR / MANIFEST["urls"][url]).read_bytes(), algorithm) == integrity:
            identical += 1
    # jquery, flot-orderbars, blueimp-md5, bootstrap js and css; flot and stupidtable on
    # cdnjs are minified builds of their own (npm ships flot unminified, stupidtable 1.1.3).
    assert identical == 5
    readme = (VENDOR / "README.md").read_text()
    for rel, meta in MANIFEST["files"].items():
        assert f"`{rel}`" in readme and meta["sha256"] in readme and meta["sha384"] in readme
    for name, package in MANIFEST["packages"].items():
        assert f"| {name} | {package['version']} | {package['licence']} |" in readme


def test_bootstrap_css_references_resolve(published: Path) -> None:
    """The glyphicon fonts bootstrap.min.css points at are vendored beside it, so the css
    makes no request that 404s (asv's page uses no glyphicon today; a later one may)."""
    offline.make_offline(published)
    css = published / "vendor" / "bootstrap" / "3.1.1" / "css" / "bootstrap.min.css"
    urls = re.findall(r"url\(([^)]+)\)", css.read_text())
    assert urls
    for url in urls:
        target = (css.parent / url.strip("'\"").split("?")[0].split("#")[0]).resolve()
        assert target.is_file(), url


def test_unmapped_cdn_url_is_refused(published: Path) -> None:
    index = published / "index.html"
    page = index.read_text().replace(
        "</head>", '<script src="https://cdn.example.org/new-asset.js"></script></head>'
    )
    index.write_text(page)
    with pytest.raises(offline.OfflineError, match=r"cdn\.example\.org/new-asset\.js"):
        offline.make_offline(published)
    assert index.read_text() == page  # not half rewritten


def test_tampered_vendored_file_is_refused(tmp_path: Path) -> None:
    vendor = tmp_path / "vendor"
    shutil.copytree(VENDOR, vendor)
    target = vendor / "jquery" / "3.3.1" / "jquery.min.js"
    target.write_bytes(target.read_bytes().replace(b"jQuery", b"jQuerY", 1))
    with pytest.raises(offline.OfflineError, match=r"jquery\.min\.js has sha256"):
        offline.load_vendored(vendor)


def test_command_line(published: Path, tmp_path: Path) -> None:
    tool = [sys.executable, "-m", "tools.offline_html"]
    done = subprocess.run([*tool, str(published)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "no external resource left" in done.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    failed = subprocess.run([*tool, str(empty)], cwd=REPO_ROOT, capture_output=True, text=True)
    assert failed.returncode == 1
    assert "run `asv publish` first" in failed.stderr


def _publish_config(tmp_path: Path, results: Path) -> Path:
    """asv.conf.json over this repository and `results`, publishing into tmp_path/html."""
    home = tmp_path / "home"
    return asvkit.AsvProject(REPO_ROOT, tmp_path, tmp_path / "env", home, results=results).config


def _asv_publish(config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A plain `asv publish`, nothing after it (asv imports its plugins from the folder
    `python -m` starts in: the repository root)."""
    environ = {k: v for k, v in os.environ.items() if k != "GITHUB_REPOSITORY"}
    environ.pop(PROJECT_URL, None)
    return subprocess.run(
        [sys.executable, "-m", "asv", "publish", "--config", str(config)],
        cwd=REPO_ROOT,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


PROJECT_URL = "GEOINFER_PROJECT_URL"


def test_plain_asv_publish_is_offline_ready(tmp_path: Path) -> None:
    """asv.conf.json's plugin (asv_offline_pages.py) runs tools.offline_html inside
    `asv publish`: the committed history, published with nothing after it, loads nothing
    external, and a second offline pass changes no byte (the same rewrite)."""
    assert ".asv_offline_pages" in asvkit.read_config()["plugins"]
    config = _publish_config(tmp_path, REPO_ROOT / ".asv" / "results")
    done = _asv_publish(config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Offline pages: " in done.stdout
    html = tmp_path / "html"
    pages = sorted(html.glob("*.html"))
    assert pages
    for page in pages:
        assert offline.external_resources(page.read_text()) == [], page
    vendored = tags_with_integrity((html / "index.html").read_text())
    assert len(vendored) == 10
    for url, integrity in vendored:
        assert integrity == sri_of((html / url).read_bytes(), "sha384"), url
    before = {p: p.read_bytes() for p in html.rglob("*") if p.is_file()}
    offline.make_offline(html)
    assert {p: p.read_bytes() for p in html.rglob("*") if p.is_file()} == before
    index = json.loads((html / "index.json").read_text())
    # No invented repository: asv's default (no link) unless the environment names one.
    assert index["project_url"] == "#" and index["show_commit_url"] == "#"


def test_project_links_come_from_the_environment(tmp_path: Path) -> None:
    config = _publish_config(tmp_path, REPO_ROOT / ".asv" / "results")
    done = _asv_publish(config, GITHUB_REPOSITORY="team/geoinfer-bench")
    assert done.returncode == 0, done.stdout + done.stderr
    index = json.loads((tmp_path / "html" / "index.json").read_text())
    assert index["project_url"] == "https://github.com/team/geoinfer-bench"
    assert index["show_commit_url"] == "https://github.com/team/geoinfer-bench/commit/"
    done = _asv_publish(config, **{PROJECT_URL: "https://git.example.org/a/b/"})
    assert done.returncode == 0, done.stdout + done.stderr
    index = json.loads((tmp_path / "html" / "index.json").read_text())
    assert index["show_commit_url"] == "https://git.example.org/a/b/commit/"
