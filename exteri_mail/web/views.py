"""The pages and documents of the web application.

Each view opens one registry transaction; an exception leaving it rolls
back, so a refused request changes nothing.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError

from .. import accounts, db, names, requests
from ..accounts import Registry
from ..errors import ExteriError, InvalidInput, NotFound, ServerError
from ..plans import PLANS
from . import SETTINGS_KEY, autoconfig, i18n

log = logging.getLogger("exteri_mail.web")

blueprint = Blueprint("web", __name__)
FORM_FIELDS = ("first_name", "last_name", "forward", "note")
HONEYPOT = "website"
_TOKEN_STATUS = {"unknown": 404, "expired": 410, "used": 410, "revoked": 410}


def _settings():
    return current_app.extensions[SETTINGS_KEY]


def language() -> str:
    chosen = request.args.get("lang")
    if chosen in requests.LANGUAGES:
        session["lang"] = chosen
    stored = session.get("lang")
    return stored if stored in requests.LANGUAGES else i18n.DEFAULT


def t(key: str, **values) -> str:
    return i18n.translate(language(), key, **values)


@contextmanager
def registry() -> Iterator[Registry]:
    s = _settings()
    with db.transaction(s.dsn) as conn:
        yield Registry(
            conn, s.primary_domain, s.alias_domain, "web", test_domains=s.test_domains
        )


def _page(template: str, status: int = 200, **context) -> tuple[str, int]:
    return render_template(template, **context), status


def _message(title_key: str, body: str, status: int) -> tuple[str, int]:
    return _page("message.html", status, title=t(title_key), body=body)


def _refused(exc: requests.TokenRefused) -> tuple[str, int]:
    return _message("error.title", t(f"token.{exc.reason}"), _TOKEN_STATUS[exc.reason])


# --- the request form --------------------------------------------------------------


def _preview(first: str, last: str) -> str | None:
    limit = requests.LIMITS["first_name"]
    if not first.strip() or not last.strip() or max(len(first), len(last)) > limit:
        return None
    try:
        return f"{names.local_part(first, last)}@{_settings().primary_domain}"
    except InvalidInput:
        return None


@blueprint.get("/")
def request_form():
    return _page("request.html", values={}, problems={}, preview=None)


@blueprint.post("/")
def request_submit():
    values = {field: request.form.get(field, "") for field in FORM_FIELDS}
    if request.form.get(HONEYPOT):
        # Robots get the same answer as people, and nothing happens.
        log.info("request form: honeypot filled by %s, ignored", request.remote_addr)
        return redirect(url_for("web.request_sent"))

    problems: dict[str, str] = {}
    try:
        with registry() as reg:
            draft = _check(reg, values, problems)
            if draft is not None:
                requests.submit(
                    reg, _settings(), draft, request.remote_addr, language()
                )
    except requests.RateLimited as exc:
        log.warning("request form: %s", exc)
        return _message("error.title", t("error.rate"), 429)
    except ServerError as exc:
        log.error("request form: %s", exc)
        return _message("error.title", t("error.send"), 503)

    if problems:
        preview = _preview(values["first_name"], values["last_name"])
        return _page(
            "request.html", 400, values=values, problems=problems, preview=preview
        )
    return redirect(url_for("web.request_sent"))


def _check(reg: Registry, values: dict, problems: dict) -> requests.Draft | None:
    draft = None
    try:
        draft = requests.check(reg, *(values[field] for field in FORM_FIELDS))
    except requests.InvalidRequest as exc:
        problems.update(exc.problems)
    if not request.form.get("privacy"):
        problems["privacy"] = t("error.privacy")
    return None if problems else draft


@blueprint.get("/sent")
def request_sent():
    return _message("request.sent.title", t("request.sent.body"), 200)


@blueprint.get("/preview")
def preview():
    first, last = request.args.get("first", ""), request.args.get("last", "")
    if max(len(first), len(last)) > requests.LIMITS["first_name"]:
        return {"error": t("error.too_large")}, 400
    try:
        local = names.local_part(first, last)
    except InvalidInput as exc:
        return {"error": str(exc)}
    return {"address": f"{local}@{_settings().primary_domain}"}


@blueprint.get("/privacy")
def privacy():
    s = _settings()
    support = f"{s.support_local_part}@{s.primary_domain}"
    return _message("privacy.title", t("privacy.body", support=support), 200)


# --- confirmation --------------------------------------------------------------------


@blueprint.get(requests.CONFIRM_PATH + "<token>")
def confirm_form(token: str):
    try:
        with registry() as reg:
            found = requests.confirmable(reg, token)
    except requests.TokenRefused as exc:
        return _refused(exc)
    return _page("confirm.html", request_=found)


@blueprint.post(requests.CONFIRM_PATH + "<token>")
def confirm(token: str):
    try:
        with registry() as reg:
            done = requests.confirm(reg, token)
    except requests.TokenRefused as exc:
        return _refused(exc)
    body = t("confirmed.body", address=done["address"], forward=done["forward"])
    return _message("confirmed.title", body, 200)


# --- the setup page --------------------------------------------------------------------


def _setup_page(token: str, status: int = 200, **extra):
    s = _settings()
    try:
        with registry() as reg:
            view = requests.setup_view(reg, token)
    except requests.TokenRefused as exc:
        return _refused(exc)

    address = view.account["address"]
    points = autoconfig.endpoints(s, view.plan)
    can_profile = autoconfig.mobileconfig(s, points, address, address) is not None
    return _page(
        "setup.html",
        status,
        view=view,
        address=address,
        points=points,
        token=token,
        webmail_url=s.web.webmail_url if view.plan.mailbox else None,
        can_profile=can_profile,
        password_min=requests.PASSWORD_MIN,
        quota=_size(view.account["quota_bytes"]),
        **extra,
    )


def _size(quota: int | None) -> str | None:
    if quota is None:
        return None
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2)):
        if quota >= factor:
            return f"{quota / factor:g} {unit}"
    return f"{quota} B"


@blueprint.get(requests.SETUP_PATH + "<token>")
def setup(token: str):
    return _setup_page(token)


@blueprint.post(requests.SETUP_PATH + "<token>/password")
def setup_password(token: str):
    password = request.form.get("password", "")
    if password != request.form.get("password2", ""):
        return _setup_page(token, 400, password_error=t("setup.password.mismatch"))
    try:
        with registry() as reg:
            requests.set_password(reg, token, password)
    except requests.TokenRefused as exc:
        return _refused(exc)
    except InvalidInput as exc:
        return _setup_page(token, 400, password_error=str(exc))
    return _setup_page(token, password_done=True)


@blueprint.get(requests.SETUP_PATH + "<token>/profile.mobileconfig")
def setup_profile(token: str):
    s = _settings()
    try:
        with registry() as reg:
            view = requests.setup_view(reg, token)
    except requests.TokenRefused as exc:
        return _refused(exc)

    address = view.account["address"]
    name = f"{view.account['first_name']} {view.account['last_name']}"
    points = autoconfig.endpoints(s, view.plan)
    profile = autoconfig.mobileconfig(s, points, address, name)
    if profile is None:
        return _message("error.title", t("error.not_found"), 404)
    filename = f"{address}.mobileconfig"
    return Response(
        profile,
        mimetype="application/x-apple-aspen-config",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# --- client autoconfiguration ------------------------------------------------------------


def _plan_and_login(address: str | None):
    """The plan and login name of an active account; (None, None) otherwise.

    Unknown, inactive and malformed addresses get the same answer.
    """
    if not address or len(address) > requests.LIMITS["forward"]:
        return None, None
    try:
        with registry() as reg:
            row = accounts.find(reg, address)
    except (NotFound, InvalidInput):
        return None, None
    if row["status"] != "active":
        return None, None
    return PLANS[row["plan"]], reg.address(row["local_part"])


def _xml(body: bytes) -> Response:
    return Response(body, mimetype="application/xml")


@blueprint.get("/.well-known/autoconfig/mail/config-v1.1.xml")
@blueprint.get("/mail/config-v1.1.xml")
def thunderbird():
    s = _settings()
    plan, login = _plan_and_login(request.args.get("emailaddress"))
    points = autoconfig.endpoints(s, plan)
    return _xml(autoconfig.thunderbird(s, points, login or autoconfig.PLACEHOLDER))


@blueprint.route("/autodiscover/autodiscover.xml", methods=["GET", "POST"])
@blueprint.route("/Autodiscover/Autodiscover.xml", methods=["GET", "POST"])
def outlook():
    s = _settings()
    if request.method == "POST":
        asked = autoconfig.autodiscover_address(request.get_data())
    else:
        asked = request.args.get("emailaddress")
    if not asked or len(asked) > requests.LIMITS["forward"]:
        return _message("error.title", "EMailAddress missing", 400)

    plan, login = _plan_and_login(asked)
    points = autoconfig.endpoints(s, plan)
    return _xml(autoconfig.autodiscover(s, points, login or asked.strip()))


# --- installing into the app -------------------------------------------------------------


def _error_page(key: str, status: int):
    return lambda _exc: _message("error.title", t(key), status)


def _registry_down(exc: ExteriError):
    log.error("web: %s", exc)
    return _message("error.title", t("error.internal"), 503)


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Links carry tokens: they must not leak to other sites or caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.path.startswith((requests.CONFIRM_PATH, requests.SETUP_PATH)):
        response.headers["Cache-Control"] = "no-store"
    return response


def _globals() -> dict:
    return {
        "t": t,
        "lang": language,
        "domain": _settings().primary_domain,
        "limits": requests.LIMITS,
        "honeypot": HONEYPOT,
    }


def install(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.after_request(_headers)
    app.context_processor(_globals)
    app.register_error_handler(CSRFError, _error_page("error.csrf", 400))
    app.register_error_handler(413, _error_page("error.too_large", 413))
    app.register_error_handler(404, _error_page("error.not_found", 404))
    app.register_error_handler(ExteriError, _registry_down)
    # Outlook posts its autodiscover request without a CSRF token.
    app.extensions["csrf"].exempt(outlook)
