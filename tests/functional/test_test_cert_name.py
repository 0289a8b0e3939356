"""`pipwrap test` on an HTTPS index reached by a name its certificate does not hold.

`pipwrap serve --tls-cert` prints its address as 127.0.0.1 while hosting-team.md's
recipe makes the certificate for the names clients use (localhost there). A profile
given the address serve printed fails the certificate check for the name, not the CA; on
main `pipwrap test` still asked "is ca-file ... the CA that signed it?", sending the user
to the one file that was right.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.functional.test_serve_ux import team_tls  # noqa: F401  (the fixture)
from tests.support.sandbox import Sandbox


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_a_certificate_for_another_name_is_named_not_blamed_on_the_ca(
        sandbox: Sandbox, team_tls: tuple[Path, str], shell: str) -> None:  # noqa: F811
    certs, url = team_tls
    by_address = url.replace("localhost", "127.0.0.1")
    sandbox.write_config(f'default = "team"\n[profiles.team]\nindex-url = "{by_address}"\n'
                         f'ca-file = "{certs / "ca.pem"}"\n')
    done = sandbox.sh(shell, "pipwrap test team")
    said = " ".join(done.stdout.split()) + done.stderr
    assert done.returncode != 0, said
    assert "the CA that signed it" not in said, said
    assert "not valid for '127.0.0.1'" in said, said
    assert "pipwrap set-url team" in said and "subjectAltName" in said, said
