"""Make asv's published html/ render with no network.

asv 0.6.6's page loads jQuery, flot, stupidtable, blueimp-md5 and bootstrap from public
CDNs; on an offline or locked-down machine the first failed load sends the reader to
error.html. This copies the vendored copies in tools/vendor/ (npm tarballs, see its
README) into html/vendor/ and rewrites every page to load them, with a fresh `integrity`
(sha384 of the vendored bytes) so the browser still refuses a tampered file.

    python -m tools.offline_html html

Runs with no network, is idempotent (a second run changes no byte) and fails, naming the
URL, if a page loads anything external that the manifest does not map: a newer asv that
adds an asset must not publish a page that silently goes blank offline.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from pathlib import Path

__all__ = [
    "VENDOR_DIR",
    "OfflineError",
    "Rewrite",
    "VendoredAssets",
    "external_resources",
    "load_vendored",
    "make_offline",
    "rewrite_page",
    "sri",
]

VENDOR_DIR = Path(__file__).resolve().parent / "vendor"
VENDOR_SUBDIR = "vendor"  # where the copies go inside the published html/
# Attributes that only make sense for a cross-origin CDN load.
CDN_ONLY_ATTRIBUTES = frozenset({"crossorigin", "referrerpolicy"})
# Tags whose URL attribute the browser fetches while rendering (anchors are navigation).
RESOURCE_ATTRIBUTES = {"script": "src", "link": "href", "img": "src", "iframe": "src"}
# <link> relations the browser fetches; "alternate" (asv's Atom feed) is only a pointer.
FETCHED_LINK_RELS = frozenset({"stylesheet", "icon", "preload", "modulepreload", "manifest"})
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


class OfflineError(Exception):
    """The vendored files or a page are not what the manifest promises."""


@dataclass(frozen=True)
class VendoredAssets:
    """The manifest, checked: every file present with the promised sha256."""

    root: Path
    files: tuple[str, ...]  # paths relative to root
    urls: dict[str, str]  # CDN URL -> vendored file

    def path_for(self, url: str) -> str | None:
        """The vendored file for a page's URL: a CDN URL it maps, or a URL that already
        points into vendor/ (so a second run recognises its own output)."""
        if url in self.urls:
            return self.urls[url]
        parts = Path(url).parts
        if VENDOR_SUBDIR in parts:
            rel = "/".join(parts[parts.index(VENDOR_SUBDIR) + 1 :])
            if rel in self.files:
                return rel
        return None


@dataclass(frozen=True)
class Rewrite:
    """What one page's rewrite did."""

    page: Path
    replaced: int  # tags now pointing at vendored copies


def sri(data: bytes) -> str:
    """Subresource-integrity value (sha384, the strength browsers and the SRI spec favour)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def load_vendored(root: Path = VENDOR_DIR) -> VendoredAssets:
    """Read manifest.json and check every vendored file against its sha256, so a truncated
    or edited copy is caught here rather than by a reader's browser refusing it."""
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OfflineError(f"cannot read {root / 'manifest.json'}: {exc}") from exc
    for rel, meta in manifest["files"].items():
        path = root / rel
        if not path.is_file():
            raise OfflineError(f"vendored file missing: {path} (see {root / 'README.md'})")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != meta["sha256"]:
            raise OfflineError(
                f"vendored file {path} has sha256 {digest}, manifest says {meta['sha256']}: "
                "restore it from its npm tarball (see the README there)"
            )
    unknown = sorted(set(manifest["urls"].values()) - set(manifest["files"]))
    if unknown:
        raise OfflineError(f"manifest maps URLs to files it does not list: {unknown}")
    return VendoredAssets(root, tuple(manifest["files"]), dict(manifest["urls"]))


@dataclass(frozen=True)
class _Tag:
    start: int  # offset of "<" in the page
    raw: str  # the start tag exactly as written
    name: str
    attrs: tuple[tuple[str, str | None], ...]


class _TagFinder(HTMLParser):
    """Collects resource-loading start tags with their exact text and offset, so a page is
    edited in place: everything else keeps its bytes."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self._line_starts = [0]
        for match in re.finditer("\n", text):
            self._line_starts.append(match.end())
        self.tags: list[_Tag] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in RESOURCE_ATTRIBUTES:
            line, col = self.getpos()
            raw = self.get_starttag_text() or ""
            self.tags.append(_Tag(self._line_starts[line - 1] + col, raw, tag, tuple(attrs)))

    handle_startendtag = handle_starttag


def _resource_tags(text: str) -> list[_Tag]:
    finder = _TagFinder(text)
    finder.feed(text)
    finder.close()
    return finder.tags


def _resource_url(tag: _Tag) -> str | None:
    attrs = dict(tag.attrs)
    if tag.name == "link" and not FETCHED_LINK_RELS & set((attrs.get("rel") or "").split()):
        return None
    return attrs.get(RESOURCE_ATTRIBUTES[tag.name])


def external_resources(text: str) -> list[str]:
    """URLs on another host that the page makes the browser fetch while rendering."""
    urls = (_resource_url(tag) for tag in _resource_tags(text))
    return [url for url in urls if url and EXTERNAL.match(url)]


def _render_tag(tag: _Tag, url_attr: str, url: str, integrity: str) -> str:
    parts = [tag.name]
    for name, value in tag.attrs:
        if name in CDN_ONLY_ATTRIBUTES or name == "integrity":
            continue
        if name == url_attr:
            value = url
        parts.append(name if value is None else f'{name}="{escape(value, quote=True)}"')
        if name == url_attr:
            parts.append(f'integrity="{integrity}"')
    closing = "/>" if tag.raw.rstrip().endswith("/>") else ">"
    return "<" + " ".join(parts) + closing


def rewrite_page(text: str, assets: VendoredAssets, vendor_url: str) -> tuple[str, int]:
    """The page with every mapped CDN tag pointing at `vendor_url`/file and carrying the
    vendored bytes' sha384; raises OfflineError for an external URL nothing maps."""
    unmapped = []
    edits: list[tuple[int, int, str]] = []
    for tag in _resource_tags(text):
        url = _resource_url(tag)
        if not url:
            continue
        rel = assets.path_for(url)
        if rel is None:
            if EXTERNAL.match(url):
                unmapped.append(url)
            continue
        integrity = sri((assets.root / rel).read_bytes())
        new = _render_tag(tag, RESOURCE_ATTRIBUTES[tag.name], f"{vendor_url}/{rel}", integrity)
        edits.append((tag.start, tag.start + len(tag.raw), new))
    if unmapped:
        raise OfflineError(
            "the page loads external URLs that tools/vendor/manifest.json does not map "
            f"(vendor them, see tools/vendor/README.md): {', '.join(unmapped)}"
        )
    for start, end, new in reversed(edits):
        text = text[:start] + new + text[end:]
    return text, len(edits)


def _copy_vendored(assets: VendoredAssets, target: Path) -> None:
    for rel in assets.files:
        destination = target / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(assets.root / rel, destination)


def make_offline(html_dir: Path, assets: VendoredAssets | None = None) -> list[Rewrite]:
    """Vendor the assets into `html_dir`/vendor and rewrite every page under `html_dir`."""
    if not (html_dir / "index.html").is_file():
        raise OfflineError(f"{html_dir} has no index.html: run `asv publish` first")
    assets = assets or load_vendored()
    vendor_dir = html_dir / VENDOR_SUBDIR
    _copy_vendored(assets, vendor_dir)
    rewrites = []
    for page in sorted(html_dir.rglob("*.html")):
        if vendor_dir in page.parents:
            continue
        text = page.read_text(encoding="utf-8")
        vendor_url = Path(os.path.relpath(vendor_dir, page.parent)).as_posix()
        new_text, replaced = rewrite_page(text, assets, vendor_url)
        if new_text != text:
            page.write_text(new_text, encoding="utf-8")
        left = external_resources(new_text)
        if left:  # a bug here, not the reader's problem: never publish a half-offline page
            raise OfflineError(f"{page} still loads {left}")
        rewrites.append(Rewrite(page, replaced))
    return rewrites


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", type=Path, help="asv's published folder (html_dir)")
    args = parser.parse_args(argv)
    try:
        rewrites = make_offline(args.html_dir)
    except OfflineError as exc:
        print(f"offline_html: {exc}", file=sys.stderr)
        return 1
    total = sum(r.replaced for r in rewrites)
    print(
        f"offline_html: {len(rewrites)} page(s) in {args.html_dir}, {total} asset tag(s) "
        f"served from {args.html_dir / VENDOR_SUBDIR}; no external resource left"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
