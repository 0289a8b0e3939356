"""Project owners (``.pipwrap/owners.json`` in the tree): who may upload to a project.

The first login to upload a new project owns it (serve records it, see
:func:`pipwrap.repo.permissions.admit`); ``pipwrap repo owner add|remove|list`` is the
operator's hand on it. ``owner add`` also claims a name the tree does not hold yet (one
the upstream serves, which a first upload may not take): the claim alone hides nothing,
the upstream still answers the name until its owner's first upload. The file is state,
not a cache: backups keep it.
"""

from __future__ import annotations

import json
import os

from pipwrap.errors import PipwrapError
from pipwrap.repo import index
from pipwrap.repo.distfile import PROJECT_NAME, normalize

OWNERS = "owners.json"  # in the tree's .pipwrap/


def owners_path(root: str) -> str:
    return os.path.join(root, index.STATE_DIR, OWNERS)


def load_owners(root: str) -> dict[str, list[str]]:
    """project -> its owners. A damaged file is an error, never "no owners" (which would
    let the next uploader claim every project)."""
    path = owners_path(root)
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise PipwrapError(f"{path}: cannot be read ({exc}); fix or restore it") from None
    if not isinstance(data, dict) or not all(
            isinstance(v, list) and all(isinstance(u, str) for u in v) for v in data.values()):
        raise PipwrapError(f"{path}: expected {{project: [user, ...]}}; fix or restore it")
    return {str(k): list(v) for k, v in data.items()}


def save_owners(root: str, owners: dict[str, list[str]]) -> None:
    os.makedirs(os.path.join(root, index.STATE_DIR), exist_ok=True)
    data = {name: sorted(set(users)) for name, users in sorted(owners.items()) if users}
    index.write_if_changed(owners_path(root), (json.dumps(data, indent=1) + "\n").encode(),
                           index.scratch_dir(root))


def check_user_name(user: str) -> str:
    if not user or ":" in user or any(c.isspace() or ord(c) < 32 for c in user):
        raise PipwrapError(f"{user!r} is not a login name (as in the htpasswd file)")
    return user


def change_owner(root: str, project: str, user: str, *, add: bool) -> list[str]:
    """``repo owner add|remove``: the project's owners after the change (under the lock)."""
    given, project = project, normalize(project)
    check_user_name(user)
    if not os.path.isdir(root):
        raise PipwrapError(f"no repository at {root}")
    with index.repo_lock(root):
        owners = load_owners(root)
        current = owners.get(project, [])
        if add:
            if not PROJECT_NAME.fullmatch(project):
                raise PipwrapError(f"{given!r} is not a project name")
            current = sorted({*current, user})
        else:
            if user not in current:
                raise PipwrapError(f"{user} is not an owner of {project}")
            current = [u for u in current if u != user]
        owners[project] = current
        save_owners(root, owners)
    return current
