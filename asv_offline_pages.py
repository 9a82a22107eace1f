"""asv plugin: every `asv publish` leaves offline-ready pages and an honest project link.

asv.conf.json lists this module under "plugins" as ".asv_offline_pages": asv 0.6.6
(`asv.plugin_manager.PluginManager.import_plugin`) imports a name that starts with "."
with the current directory put first on sys.path, so this file lives at the repository
root, where asv is run from (it reads ./asv.conf.json there too). A module inside
`geoinfer_workflows` would be measured code. It imports `tools.offline_html` from this
checkout (the checkout's root comes first on sys.path, so no installed `tools` shadows it).

`asv publish` empties html/, copies its template (pages that load jQuery, flot and
bootstrap from CDNs), then calls `publish()` of every `asv.publishing.OutputPublisher`
subclass, in `order`. The classes here:

- `ProjectLinks` (first): the project and commit links, from the environment rather than
  an invented URL: GEOINFER_PROJECT_URL (e.g. https://github.com/owner/repo), else
  GitHub Actions' GITHUB_SERVER_URL/GITHUB_REPOSITORY; neither set: asv.conf.json's values
  (none there: asv's default "#", no link).
- `OfflinePages` (last): tools/offline_html.py on the published folder, so a plain
  `asv publish` never leaves a page that goes blank without network. A page loading an
  asset the vendored manifest does not map fails the publish, naming the URL.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

from asv.console import log
from asv.publishing import OutputPublisher
from asv.util import UserError

ROOT = Path(__file__).resolve().parent
PROJECT_URL_VARIABLE = "GEOINFER_PROJECT_URL"


def _offline_html():
    """`tools.offline_html` of this checkout."""
    if sys.path[:1] != [str(ROOT)]:
        sys.path.insert(0, str(ROOT))
    from tools import offline_html

    return offline_html


def project_url(environ: dict[str, str] | None = None) -> str | None:
    """The repository's web address, if the environment says it; None otherwise."""
    environ = os.environ if environ is None else environ
    url = environ.get(PROJECT_URL_VARIABLE, "").strip()
    if not url and environ.get("GITHUB_REPOSITORY"):
        server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        url = f"{server}/{environ['GITHUB_REPOSITORY']}"
    return url.rstrip("/") or None


class ProjectLinks(OutputPublisher):
    """Set conf.project_url and conf.show_commit_url before anything writes them."""

    order = -math.inf

    @classmethod
    def publish(cls, conf, repo, benchmarks, graphs, revisions):
        url = project_url()
        if url:
            conf.project_url = url
            conf.show_commit_url = f"{url}/commit/"
            log.info(f"Project links: {url} (from the environment)")


class OfflinePages(OutputPublisher):
    """Serve asv's CDN assets from html/vendor (tools/offline_html.py)."""

    order = math.inf

    @classmethod
    def publish(cls, conf, repo, benchmarks, graphs, revisions):
        offline = _offline_html()
        try:
            rewrites = offline.make_offline(Path(conf.html_dir))
        except offline.OfflineError as exc:  # asv prints a UserError's message, exits 1
            raise UserError(f"offline pages: {exc}") from exc
        total = sum(r.replaced for r in rewrites)
        log.info(f"Offline pages: {len(rewrites)} page(s), {total} asset tag(s) vendored")
