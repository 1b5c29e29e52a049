"""The web application: request form, setup pages, client autoconfiguration.

`create_app(settings)` builds the WSGI app (for tests, or a WSGI server in
front of it); `serve(settings, host, port)` runs it with waitress until
interrupted, which is what `exteri-mail web` does.
"""

import logging
import secrets

from flask import Flask
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from ..resources import resource
from ..settings import Settings

log = logging.getLogger("exteri_mail.web")

# Largest request body accepted: the form's fields at their limits fit.
MAX_BODY = 16 * 1024
SETTINGS_KEY = "exteri_mail.settings"


def create_app(settings: Settings) -> Flask:
    from . import views

    web_dir = resource("templates") / "web"
    app = Flask(
        __name__,
        template_folder=str(web_dir),
        static_folder=str(web_dir / "static"),
    )
    secret = settings.web.secret_key
    if secret is None:
        log.warning("web.secret_key not set: forms break when the app restarts")
        secret = secrets.token_hex(32)
    app.config.update(
        SECRET_KEY=secret,
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=MAX_BODY,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(settings.web.public_url or "").startswith("https:"),
    )
    app.extensions[SETTINGS_KEY] = settings
    CSRFProtect(app)

    hops = settings.web.proxy_hops
    if hops:
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops
        )
    views.install(app)
    return app


def serve(settings: Settings, host: str, port: int) -> None:
    """Serve the app on HOST:PORT until interrupted."""
    import waitress

    app = create_app(settings)
    log.info("serving the web app on http://%s:%d", host, port)
    waitress.serve(app, host=host, port=port, ident="exteri-mail", threads=4)
