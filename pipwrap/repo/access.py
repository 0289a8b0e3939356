"""Who may do what on ``pipwrap serve``: uploads on or off, which actions need a login,
the largest upload, and the publishing policy (rights per login, project owners)."""

from __future__ import annotations

from pipwrap.repo import auth, permissions, upload


class Access:
    """Who may upload and read. Uploads are off unless a login file or ``--auth none``
    turns them on; reading needs a login only with ``--auth read``."""

    def __init__(self, logins: auth.Logins | None = None, *, uploads: bool = False,
                 login_to_upload: bool = True, login_to_read: bool = False,
                 max_upload: int = upload.DEFAULT_MAX_UPLOAD,
                 policy: permissions.Policy | None = None) -> None:
        self.logins = logins
        self.policy = policy or permissions.Policy()  # who may publish what
        self.uploads = uploads
        self.login_to_upload = login_to_upload and logins is not None
        self.login_to_read = login_to_read and logins is not None
        self.max_upload = max_upload
