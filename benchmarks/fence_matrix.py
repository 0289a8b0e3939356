# ruff: noqa: E501
"""Measure which tools honour which proxy and CA variables (the table in docs/fence.md).

    .venv/bin/python benchmarks/fence_matrix.py [TOOLS_VENV]

TOOLS_VENV holds httpx, requests and pex (default ~/.cache/pipwrap-tests/fence-tools);
pip venvs come from ~/.cache/pipwrap-tests/pip-{23.2.1,newest}. Each variable is set
alone; "via fence" means the fence saw (and refused) the request.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipwrap import fence  # noqa: E402
from tests.support import static_index  # noqa: E402
from tests.support.wheels import make_wheel  # noqa: E402

CACHE = Path(os.environ.get("PIPWRAP_TEST_CACHE", Path.home() / ".cache/pipwrap-tests"))


def tools(venv: Path) -> dict[str, list[str]]:
    py = str(venv / "bin" / "python")
    found = {
        "urllib": [py, "-c", "import sys, urllib.request as u; u.urlopen(sys.argv[1] + 'foo/', timeout=10)"],
        "requests": [py, "-c", "import sys, requests; requests.get(sys.argv[1] + 'foo/', timeout=10).raise_for_status()"],
        "httpx": [py, "-c", "import sys, httpx; httpx.get(sys.argv[1] + 'foo/', timeout=10).raise_for_status()"],
    }
    for label in ("23.2.1", "newest"):
        pip = CACHE / f"pip-{label}" / "bin" / "pip"
        if pip.exists():
            found[f"pip {label}"] = [str(pip), "download", "-q", "--no-deps", "--no-cache-dir",
                                     "--disable-pip-version-check", "-d", "{tmp}", "-i", "{url}", "foo"]
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    found["uv"] = ["sh", "-c", f"echo foo | {uv} pip compile -q --no-cache --index-url \"$1\" -", "sh", "{url}"]
    found["git"] = ["git", "ls-remote", "{url}repo.git"]
    found["curl"] = ["curl", "-sSf", "-o", "/dev/null", "{url}foo/"]
    pex = venv / "bin" / "pex"
    if pex.exists():
        found["pex"] = [str(pex), "--no-pypi", "--index-url", "{url}", "foo", "-o", "{tmp}/x.pex"]
    return found


def run(argv: list[str], url: str, env: dict[str, str], tmp: str) -> subprocess.CompletedProcess[str]:
    argv = [a.replace("{url}", url).replace("{tmp}", tmp) for a in argv]
    if argv[0].endswith("python") or "python" in Path(argv[0]).name:
        argv.append(url)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                          check=False, cwd=tmp)


def refusals(session: fence.Session) -> str:
    """What the fence wrote to the session's report file so far."""
    return Path(session.report_file or os.devnull).read_text()


def main() -> None:
    venv = Path(sys.argv[1]) if len(sys.argv) > 1 else CACHE / "fence-tools"
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ.update({"HOME": str(tmp), "XDG_CACHE_HOME": str(tmp / "cache"),
                           "XDG_DATA_HOME": str(tmp / "data"), "PIPWRAP_FENCE_IDLE": "2"})
        ca = static_index.make_ca(tmp / "ca")
        wheel = make_wheel(tmp / "w", "Foo", "1.0", "x")
        tree = static_index.tree(tmp / "idx", [wheel])
        with static_index.serve(tree) as index, static_index.serve(tree) as other, \
                static_index.serve(tree, context=ca.server_context(tmp / "s")) as tls:
            plain = fence.open_session(index.url)  # allows only `index`
            trusting = fence.open_session(tls.url, ca_file=str(ca.cert))
            base = {"PATH": os.environ["PATH"], "HOME": str(tmp), "PIP_CONFIG_FILE": os.devnull,
                    "UV_NO_CONFIG": "1", "GIT_TERMINAL_PROMPT": "0"}
            rows = []
            probes = iter(range(10**6))

            def unique(url: str) -> str:
                # The fence says each refusal once per session: a new URL for each probe.
                return url.replace("/simple/", f"/p{next(probes)}/simple/")

            for name, argv in tools(venv).items():
                row = [name]
                # Proxy variables, one at a time: does the request reach the fence?
                for variable, url in (("HTTP_PROXY", other.url), ("http_proxy", other.url),
                                      ("HTTPS_PROXY", tls.url), ("https_proxy", tls.url),
                                      ("ALL_PROXY", other.url), ("all_proxy", tls.url),
                                      ("PIP_PROXY", other.url)):
                    url = unique(url)
                    # A session of its own (its own report file): did the fence refuse?
                    probe = fence.open_session(unique(index.url))
                    run(argv, url, {**base, variable: probe.proxy_url}, tmp_name)
                    row.append("yes" if refusals(probe) else "-")
                # NO_PROXY=127.0.0.1 with HTTP_PROXY: bypassed?
                before = refusals(plain)
                run(argv, unique(other.url), {**base, "HTTP_PROXY": plain.proxy_url,
                                      "http_proxy": plain.proxy_url, "NO_PROXY": "127.0.0.1",
                                      "no_proxy": "127.0.0.1"}, tmp_name)
                row.append("bypass" if refusals(plain) == before else "ignored")
                # CA variables, one at a time, through a fence that passes the https index.
                for variable in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
                                 "PIP_CERT", "GIT_SSL_CAINFO", "SSL_CERT_DIR"):
                    value = trusting.ca_dir if variable == "SSL_CERT_DIR" else trusting.ca_bundle
                    env = {**base, "HTTPS_PROXY": trusting.proxy_url,
                           "https_proxy": trusting.proxy_url, variable: value}
                    done = run(argv, tls.url, env, tmp_name)
                    text = (done.stdout + done.stderr).lower()
                    failed_tls = any(w in text for w in ("certificate", "ssl", "tls", "unknownissuer",
                                                         "invalid peer"))
                    row.append("-" if failed_tls else ("yes" if done.returncode == 0 else "yes*"))
                rows.append(row)
        head = ["tool", "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY",
                "all_proxy (https)", "PIP_PROXY", "NO_PROXY=127.0.0.1", "SSL_CERT_FILE",
                "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT", "GIT_SSL_CAINFO", "SSL_CERT_DIR"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
