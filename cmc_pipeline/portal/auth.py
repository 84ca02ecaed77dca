"""Who is asking: passwords (Argon2id), server-side sessions, login throttling, and the
reverse proxy's word (its address, the client's address and scheme, and, for offices with
single sign-on, the signed-in user's e-mail in a trusted header).

The proxy's headers are believed only when the request comes from the proxy's own address
(``CMC_PORTAL_TRUSTED_PROXY``); from anywhere else they are ignored, so nobody can sign in
by typing a header.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict
from werkzeug.middleware.proxy_fix import ProxyFix

from cmc_pipeline.portal.store import Store, now

# argon2-cffi's defaults are RFC 9106's low-memory profile (Argon2id, 64 MiB, 3 passes).
HASHER = PasswordHasher()
# A hash to verify against when the e-mail is unknown, so a wrong e-mail takes as long as a
# wrong password and the answer time does not tell which accounts exist.
_UNKNOWN_USER_HASH = HASHER.hash(secrets.token_urlsafe(16))

FAILED_LOGINS_PER_EMAIL = 5  # in THROTTLE_WINDOW, then that account's logins wait
FAILED_LOGINS_PER_ADDRESS = 20  # from one address, whatever the e-mail
THROTTLE_WINDOW = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
FROM_PROXY = "cmc.from_trusted_proxy"


def hash_password(password: str) -> str:
    if len(password) < 12:
        raise ValueError("a password needs at least 12 characters")
    return HASHER.hash(password)


def check_password(store: Store, email: str, password: str) -> bool:
    stored = store.password_hash(email)
    try:
        HASHER.verify(stored or _UNKNOWN_USER_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


def throttled(store: Store, email: str, address: str) -> bool:
    since = now() - THROTTLE_WINDOW
    return (
        store.failed_logins_since(since, email=email) >= FAILED_LOGINS_PER_EMAIL
        or store.failed_logins_since(since, address=address) >= FAILED_LOGINS_PER_ADDRESS
    )


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, token: str | None = None):
        def on_update(session):
            session.modified = True

        super().__init__(initial, on_update)
        self.token = token
        self.modified = False


class StoreSessionInterface(SessionInterface):
    """Sessions kept in the portal's database; the cookie carries a random token, and
    only its sha256 is stored."""

    def __init__(self, store: Store):
        self.store = store

    @staticmethod
    def _key(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def open_session(self, app, request):
        token = request.cookies.get(self.get_cookie_name(app))
        if token:
            data = self.store.load_session(self._key(token))
            if data is not None:
                return ServerSession(data, token)
        return ServerSession()

    def save_session(self, app, session, response):
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        if not session:
            if session.token:
                self.store.delete_session(self._key(session.token))
                response.delete_cookie(name, domain=domain, path=path)
            return
        if session.modified or session.token is None:
            if session.token is None:
                session.token = secrets.token_urlsafe(32)
            self.store.save_session(self._key(session.token), dict(session), SESSION_LIFETIME)
            response.set_cookie(
                name,
                session.token,
                max_age=int(SESSION_LIFETIME.total_seconds()),
                httponly=True,
                secure=self.get_cookie_secure(app),
                samesite=self.get_cookie_samesite(app) or "Lax",
                path=path,
                domain=domain,
            )

    def end(self, session) -> None:
        """Log out: the stored session is deleted, so its cookie opens nothing again."""
        if session.token:
            self.store.delete_session(self._key(session.token))
        session.clear()
        session.token = None


class TrustedProxy:
    """WSGI middleware: a request from the proxy's address has its client address and
    scheme taken from ``X-Forwarded-For`` / ``X-Forwarded-Proto`` and is marked as coming
    from the proxy; any other request is left exactly as it came."""

    def __init__(self, app, proxy_address: str):
        self.app = app
        self.proxy_address = proxy_address
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def __call__(self, environ, start_response):
        if self.proxy_address and environ.get("REMOTE_ADDR") == self.proxy_address:
            environ[FROM_PROXY] = True
            return self.fixed(environ, start_response)
        environ[FROM_PROXY] = False
        for header in list(environ):
            if header.startswith("HTTP_X_FORWARDED_"):
                del environ[header]  # never believed from anywhere but the proxy
        return self.app(environ, start_response)
