"""Running sharded work on a Ray cluster, or in this process when no cluster is given.

Why one small module at the base: ingest (features), teacher outputs (training) and multi-worker
training all need the same three things: connect to a cluster with a one-line error when it is
not there, know how many CPUs it has, and run a function over a list of work items with a
bounded number in flight. Ray is an optional extra (`pip install 'tinykws[scale]'`); nothing
here imports it until a cluster is asked for, so the single-machine paths never need it.

Addresses (`--ray`): `local` starts a throw-away Ray instance in this process; `auto` joins the
cluster started on this machine with `ray start`; `HOST:PORT` joins that cluster's head (the
GCS port of `ray start --head --port PORT`); `ray://HOST:PORT` goes through Ray Client.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tinykws.errors import TinyKWSError

SCALE_HINT = "install the scale extra: pip install 'tinykws[scale]'"


def import_ray() -> Any:
    """The ray module, or a one-line error that names the extra."""
    try:
        import ray
    except ImportError as exc:
        raise TinyKWSError(f"--ray: Ray is not installed; {SCALE_HINT}") from exc
    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    a = address[len("ray://") :] if address.startswith("ray://") else address
    host, sep, port = a.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Refuse an address no server answers at, in seconds rather than after Ray's long retries."""
    if address in ("local", "auto"):
        return
    hp = _host_port(address)
    if hp is None:
        raise TinyKWSError(f"--ray {address}: expected local, auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection(hp, timeout=timeout):
            pass
    except OSError as exc:
        raise TinyKWSError(
            f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc}); start one with "
            "`ray start --head --port PORT` (docs/scale.md) or use --ray local"
        ) from exc


@contextlib.contextmanager
def connect(address: str, num_cpus: int | None = None) -> Iterator[Any]:
    """Connect to (or, for `local`, start) a Ray cluster for the duration of the block.

    The environment travels with the tasks (PYTHONPATH, TINYKWS_*), so workers import the same
    tinykws as the driver. A cluster this process joined is left running; a local one is stopped.
    """
    ray = import_ray()
    check_reachable(address)
    env = {k: v for k, v in os.environ.items() if k == "PYTHONPATH" or k.startswith("TINYKWS_")}
    kwargs: dict[str, Any] = {
        "logging_level": "ERROR",
        "log_to_driver": False,
        "include_dashboard": False,
        "runtime_env": {"env_vars": env} if env else None,
    }
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    if address == "local":
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        kwargs["object_store_memory"] = 200 * 1024 * 1024
        if not saved["RAY_AUTH_MODE"] and not saved["RAY_AUTH_TOKEN"]:
            # a throw-away instance gets a throw-away token: Ray would otherwise write one to
            # ~/.ray/auth_token, which later `ray start` runs of this user would pick up. One
            # token per process: Ray's driver keeps the first token it loads
            os.environ["RAY_AUTH_MODE"] = "token"
            os.environ["RAY_AUTH_TOKEN"] = _local_token()
    else:
        kwargs["address"] = address
        del kwargs["include_dashboard"]
    _refresh_auth_config()
    try:
        try:
            ray.init(**kwargs)
        except Exception as exc:  # ConnectionError, RuntimeError, grpc errors: one line, not a trace
            first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise TinyKWSError(
                f"--ray {address}: cannot join the cluster ({first}); if it uses token authentication, "
                "set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH (docs/scale.md)"
            ) from exc
        try:
            yield ray
        finally:
            ray.shutdown()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_TOKEN: list[str] = []


def _local_token() -> str:
    """This process's token for the `local` instances it starts."""
    if not _TOKEN:
        import secrets

        _TOKEN.append(secrets.token_hex(32))
    return _TOKEN[0]


def _refresh_auth_config() -> None:
    """Make Ray read RAY_AUTH_MODE / RAY_AUTH_TOKEN again: it reads them once, when first imported,
    and a caller (a test, a notebook) may set them afterwards. Best effort: a Ray without token
    authentication has nothing to refresh."""
    if not any(os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
        return
    try:
        from ray._raylet import Config

        Config.initialize("")
    except (ImportError, AttributeError):
        pass


def cluster_cpus(ray: Any) -> int:
    """CPUs the cluster has in all (alive nodes)."""
    return int(ray.cluster_resources().get("CPU", 0))


def run_sharded(
    fn: Callable[..., Any],
    items: Iterable[Any],
    ray: Any | None,
    done: Callable[[Any, Any], None],
    max_in_flight: int | None = None,
    num_cpus: float = 1,
) -> None:
    """Call `fn(item)` for every item, on the cluster (`ray`) or here (`ray` None), and
    `done(item, result)` in this process as each finishes (completion order on a cluster).

    At most `max_in_flight` tasks wait on the cluster at once (default: twice its CPUs), so a
    corpus of millions of clips never floods the object store with results nobody has read.
    An exception raised by `fn` reaches the caller as itself (a TinyKWSError stays one line).
    """
    items = list(items)
    if ray is None:
        for it in items:
            done(it, fn(it))
        return
    remote = ray.remote(num_cpus=num_cpus, max_retries=1)(fn)
    limit = max_in_flight or max(1, 2 * cluster_cpus(ray))
    pending: dict[Any, Any] = {}
    queue = iter(items)
    exhausted = False
    while pending or not exhausted:
        while not exhausted and len(pending) < limit:
            try:
                it = next(queue)
            except StopIteration:
                exhausted = True
                break
            pending[remote.remote(it)] = it
        if not pending:
            break
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            it = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, TinyKWSError):
                    raise TinyKWSError(str(cause)) from exc
                raise TinyKWSError(f"a Ray task failed: {str(exc).splitlines()[0][:200]}") from exc
            except ray.exceptions.RayError as exc:
                raise TinyKWSError(f"a Ray task was lost: {str(exc).splitlines()[0][:200]}") from exc
            done(it, result)
