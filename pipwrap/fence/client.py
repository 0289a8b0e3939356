"""What the rest of pipwrap calls: open a fence session for one profile.

``open_session`` finds the user's agent (starting it if none answers), registers a session
for the profile's index, upload URL, login and CA file, and returns the proxy URL (with the
session's token), the CA bundle and the variables a wrapped command gets. Any failure is a
:class:`FenceError`: the caller does not run the command (fail closed).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pipwrap import paths
from pipwrap.errors import PipwrapError

SOCKET_NAME = "agent.sock"
START_TIMEOUT = 10.0


class FenceError(PipwrapError):
    """The fence cannot be started or reached: the command must not run."""


@dataclass(frozen=True)
class Session:
    proxy_url: str      # http://pipwrap:TOKEN@127.0.0.1:PORT
    ca_bundle: str      # the fence's CA certificate, alone
    ca_dir: str         # a directory holding only that certificate (for SSL_CERT_DIR)
    agent_pid: int
    env_additions: dict[str, str]
    # The file the agent appends this session's refusals to (None: not asked for). The
    # caller prints it on the command's stderr once the command ends, then empties it.
    report_file: str | None = None
    # The argv prefix that runs a command in the fence's network namespace (empty: none),
    # and the variables such a command gets instead of ``env_additions`` (its token is
    # taken only inside). ``isolation_reason``: why there is no namespace, if there is none.
    enter: tuple[str, ...] = ()
    inside_additions: dict[str, str] | None = None
    isolation_reason: str = ""


def _private(path: str) -> str:
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not os.path.isdir(path) or st.st_uid != os.getuid():
        raise FenceError(f"fence: {path} is not a directory of yours; remove it")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


def run_dir() -> str:
    return _private(os.path.join(paths.private_dir(paths.user_cache_dir()), "fence-agent"))


def ca_dir() -> str:
    return _private(os.path.join(paths.private_dir(paths.user_data_dir()), "fence"))


def _address(directory: str) -> tuple[str, int | None]:
    path = os.path.join(directory, SOCKET_NAME)
    if len(path.encode()) < 100 or not os.path.isdir("/proc/self/fd"):
        return path, None
    # A socket path is limited to ~108 bytes; a deep HOME reaches it through a directory fd.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    return f"/proc/self/fd/{fd}/{SOCKET_NAME}", fd


def _request(directory: str, message: dict[str, object]) -> dict[str, object]:
    address, dir_fd = _address(directory)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(10)
            conn.connect(address)
            conn.sendall(json.dumps(message).encode() + b"\n")
            reply = b""
            while not reply.endswith(b"\n"):
                more = conn.recv(65536)
                if not more:
                    raise ConnectionResetError("the fence agent closed the connection")
                reply += more
    finally:
        if dir_fd is not None:
            os.close(dir_fd)
    answer = json.loads(reply)
    if not isinstance(answer, dict):
        raise ValueError("malformed reply")
    if "error" in answer:
        raise FenceError(f"fence: the agent refused the session: {answer['error']}")
    return answer


# What the agent needs from the environment of whoever starts it; nothing else (a
# password-env variable, a token) is copied into its process.
_AGENT_KEEPS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "LOGNAME",
                "XDG_CACHE_HOME", "XDG_DATA_HOME", "SSL_CERT_FILE", "SSL_CERT_DIR",
                "PIPWRAP_FENCE_IDLE", "PIPWRAP_FENCE_MAX_IDLE", "PYTHONPATH", "SYSTEMROOT")


def _agent_env() -> dict[str, str]:
    env = {name: os.environ[name] for name in _AGENT_KEEPS if name in os.environ}
    # The agent connects to indexes itself; a fence bundle inherited from a wrapped
    # command would make it trust only itself.
    own = ca_dir()
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        if env.get(name, "").startswith(own):
            del env[name]
    return env


def _start(directory: str) -> None:
    import subprocess

    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))))
    read_end, write_end = os.pipe()
    try:
        subprocess.Popen(
            [sys.executable, "-m", "pipwrap.fence.agent", directory, ca_dir(), str(write_end)],
            cwd=package_parent, pass_fds=(write_end,), start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=_agent_env(),
        )
    except OSError as exc:
        os.close(read_end)
        raise FenceError(f"fence: cannot start the agent: {exc}") from None
    finally:
        os.close(write_end)
    deadline = time.monotonic() + START_TIMEOUT
    answer = b""
    with os.fdopen(read_end, "rb") as ready:
        while not answer.endswith(b"\n") and time.monotonic() < deadline:
            more = ready.read1(4096)
            if not more:
                break
            answer += more
    if not answer.startswith(b"ok "):
        text = answer.decode(errors="replace").strip() or "it exited without a word"
        raise FenceError(f"fence: the agent did not start: {text}")


def _ask(message: dict[str, object]) -> dict[str, object]:
    directory = run_dir()
    for _attempt in range(3):
        try:
            return _request(directory, message)
        except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError):
            pass
        except (OSError, ValueError) as exc:
            raise FenceError(f"fence: cannot reach the agent: {exc}") from None
        with open(os.path.join(directory, "start.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                return _request(directory, message)
            except (FileNotFoundError, ConnectionRefusedError, ConnectionResetError):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(directory, SOCKET_NAME))
                _start(directory)
            except (OSError, ValueError) as exc:
                raise FenceError(f"fence: cannot reach the agent: {exc}") from None
    raise FenceError("fence: the agent keeps going away; see `pipwrap doctor`")


def open_session(index_url: str, upload_url: str | None = None,
                 login: tuple[str, str] | None = None, ca_file: str | None = None, *,
                 owner_pid: int | None = None, report: bool = True,
                 profile: str | None = None, login_source: str | None = None,
                 isolation: str = "off",
                 sources: dict[str, object] | None = None,
                 made_from: Sequence[paths.Watched] | None = None) -> Session:
    """Register a session for one profile; the agent starts if none runs.

    ``owner_pid``: the session ends when this process does (default: this process).
    ``report``: the agent appends refusals to ``Session.report_file`` for the caller to
    print; no descriptor of the caller's is ever handed over (a pipe kept by the agent
    would keep its reader waiting for the shell's life).
    ``profile``, ``login_source``: the profile's name and where its login comes from
    (never the secret), named when the server refuses that login.
    ``isolation``: the profile's setting ("auto", "required", "off"); with a namespace,
    the session also gets ``enter`` and ``inside_additions``.
    ``sources``: the profile's ``fallback``, ``reserved``, ``cooldown`` and
    ``cooldown_exempt`` (None: the fence passes the index's pages as they are).
    ``made_from``: for `pipwrap env`, the files the profile was resolved from, stat'ed
    before reading; once one changes, the session refuses every request (see
    fence/session.py: such a session cannot follow the new config).
    """
    message: dict[str, object] = {
        "op": "open", "index_url": index_url, "upload_url": upload_url,
        "login": list(login) if login else None,
        "ca_file": os.path.abspath(ca_file) if ca_file else None,
        "owner_pid": owner_pid if owner_pid is not None else os.getpid(),
        "report": report, "isolation": isolation,
        "profile": profile, "login_source": login_source,
    }
    if sources is not None:
        message["sources"] = sources
    if made_from is not None:
        # Absolute: the agent looks at them from its own directory.
        message["made_from"] = [[os.path.abspath(item.path),
                                 None if item.identity is None else list(item.identity)]
                                for item in made_from]
    try:
        answer = _ask(message)
    except FenceError:
        raise
    except OSError as exc:
        raise FenceError(f"fence: cannot start or reach the agent: {exc}") from None
    if sources is not None and answer.get("composes") is not True:
        # An agent from before these keys (still running across an upgrade, until it
        # sees agent.py change) would pass the index's pages as they are: fail closed.
        raise FenceError("fence: the running agent does not enforce the profile's fallback/"
                         "cooldown (it predates them); run the command again once it has "
                         "restarted (within a second of an upgrade)")
    if made_from is not None and answer.get("checks_made_from") is not True:
        # The same for an agent that would keep serving after the config changed.
        raise FenceError("fence: the running agent does not check the config behind a "
                         "`pipwrap env` session (it predates that); run the command again "
                         "once it has restarted (within a second of an upgrade)")
    token, port, pid = str(answer["token"]), int(answer["port"]), int(answer["pid"])  # type: ignore[call-overload]
    proxy_url = f"http://pipwrap:{token}@127.0.0.1:{port}"
    try:
        directory = ca_dir()
    except OSError as exc:
        raise FenceError(f"fence: {exc}") from None
    bundle = os.path.join(directory, "ca.pem")
    certs = os.path.join(directory, "certs")
    report_file = answer.get("report")
    inside_token, enter = answer.get("inside_token"), answer.get("enter")
    enter = enter if isinstance(enter, list) else []
    inside = environment(f"http://pipwrap:{inside_token}@127.0.0.1:{port}", bundle, certs) \
        if inside_token and enter else None
    return Session(proxy_url, bundle, certs, pid, environment(proxy_url, bundle, certs),
                   str(report_file) if report_file else None,
                   tuple(str(word) for word in enter) if inside else (),
                   inside, str(answer.get("isolation") or ""))


PROXY_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
               "all_proxy")
# Each name a tool reads a CA bundle from (measured: docs/fence.md); fish pays for every
# variable on every `wrap`, so only names some tool really reads.
CA_FILE_NAMES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
                 "GIT_SSL_CAINFO", "NODE_EXTRA_CA_CERTS")


def environment(proxy_url: str, bundle: str, cert_dir: str) -> dict[str, str]:
    """The variables that send a wrapped command's HTTP(S) through the fence.

    Every proxy variable names the fence and nothing is exempt from it; every CA variable
    names a bundle holding only the fence's CA, so a connection that bypasses the proxy
    fails verification too. git takes ``http.proxy`` from its config before the
    environment, so GIT_CONFIG_* (its strongest layer) sets it; GIT_SSL_CAINFO already
    overrides ``http.sslCAInfo``.
    """
    env = dict.fromkeys(PROXY_NAMES, proxy_url)
    env.update({"NO_PROXY": "", "no_proxy": "", "PIP_PROXY": proxy_url})
    env.update(dict.fromkeys(CA_FILE_NAMES, bundle))
    # Nothing for uv's --system-certs / UV_NATIVE_TLS: a non-empty SSL_CERT_FILE or
    # SSL_CERT_DIR replaces its bundled roots and the system store alike (uv >= 0.11 by
    # its own rule; before, by choosing rustls-native-certs, which reads only those), and
    # setting UV_NATIVE_TLS at all makes every uv since 0.11.9 print a deprecation warning.
    env["SSL_CERT_DIR"] = cert_dir
    env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.proxy",
                "GIT_CONFIG_VALUE_0": proxy_url})
    return env
