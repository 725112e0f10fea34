"""A stand-in for JupyterHub's single-user authentication, loaded into a real ``jupyter server`` by
``--ServerApp.identity_provider_class=tests.hub_identity.HubTokenIdentityProvider``.

Under JupyterHub the single-user server's runtime file has no token: a request is authenticated by the
hub, which accepts the ``JUPYTERHUB_API_TOKEN`` that the server was started with (its kernels inherit
it). A real hub needs the hub process, its proxy (Node's configurable-http-proxy) and a spawner, none of
which this project installs; this provider keeps only the part ``rn.connect()`` depends on: the
server's own token is always empty, and a request carrying the server's ``JUPYTERHUB_API_TOKEN``
(``Authorization: token ...``) is accepted, anything else refused (403).
"""

from __future__ import annotations

import os
from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User
from traitlets import validate


class HubTokenIdentityProvider(IdentityProvider):
    @validate("token")
    def _no_token_of_its_own(self, proposal: Any) -> str:
        return ""  # whatever the command line says: the runtime file gets an empty token

    async def get_user_token(self, handler: Any) -> User | None:
        expected = os.environ.get("JUPYTERHUB_API_TOKEN", "")
        if expected and self.get_token(handler) == expected:
            return User("hub-user", "hub-user", "hub-user", "HU", None, None)
        return None
