"""What a forward destination sends back to an SRS address, rebuilt.

A destination that accepted a forwarded message may fail later and report
it to the message's envelope sender, one of our SRS addresses, which
postsrsd turns back into the original sender. Such a report names the
user's private forward address and the destination's hosts in many places
(its own wording, the RFC 3464 fields, the returned message's trace
headers), in formats no rule can enumerate. So nothing of it is passed on
as written: `read` takes out the few facts worth keeping (what happened,
which message it was), and `rebuild` writes a report of ours around them.
Of the returned message only the fields that identify it go back, and only
when they name nothing the report revealed.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesHeaderParser, BytesParser, HeaderParser
from email.utils import formatdate, make_msgid

import idna

# Address-like words of free text: only ever compared with known names
# (the registry's, the report's), never copied into what we send. The
# bounded parts keep the search linear on a hostile run of letters.
_ADDRESS = re.compile(r"[\w.%+=-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
# What a reader skips over: folding and spacing inside a field, so that
# "rita@ ext.test" still counts as naming rita@ext.test.
_BLANKS = re.compile(r"[\s\x00-\x1f\x7f]+")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
# RFC 3464 actions, the one that matters most to the sender first.
ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
# Fields of the returned message that tell its sender which one it was.
IDENTIFYING = ("From", "To", "Cc", "Date", "Subject", "Message-ID")
RECIPIENT_FIELDS = ("Final-Recipient", "Original-Recipient", "X-Actual-Recipient")
MTA_FIELDS = ("Reporting-MTA", "Remote-MTA", "Received-From-MTA")
# Text read per part: enough for any real bounce, bounded for a hostile one.
TEXT_LIMIT = 256 * 1024
# A returned field longer than a header line may be is not passed on.
FIELD_LIMIT = 998
# A forward's local part this long is withheld on its own too: alone or
# spelled "rita.privata at ext.test" it still tells where the mail went.
LOCAL_PART_MIN = 4
# Headers go out unfolded: the milter hands them over one per field.
_WIRE = policy.SMTP.clone(max_line_length=None)


@dataclass
class Report:
    """What a returned report says, in the few terms we pass on."""

    # A report that states no action (a plain-text bounce) is a failure.
    action: str = "failed"
    status: str = "5.0.0"
    stated: bool = False
    # Identifying fields of the returned message, in order.
    returned: list[tuple[str, str]] = field(default_factory=list)
    # Every address-like word (lower case): evidence of whose forward it was.
    words: set[str] = field(default_factory=set)
    # Addresses and hosts the report names outside the identifying fields:
    # the destination's side, never to be repeated.
    named: set[str] = field(default_factory=set)

    def see(self, text: str, named: bool) -> None:
        found = {
            spelling
            for word in _ADDRESS.findall(text)
            for spelling in spellings(word.lower().strip("."))
        }
        self.words |= found
        if named:
            self.named |= found


def read(raw: bytes) -> Report:
    """The facts of RAW, a report in any format (RFC 3464 or plain text)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    report = Report()
    for name, value in msg.items():
        report.see(f"{name}: {_str(value)}", named=True)
    for part in _leaves(msg):
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            _read_status(part, report)
        elif kind == "message/rfc822" and not report.returned:
            _read_returned(part.get_payload(0), report)
        elif kind == "text/rfc822-headers" and not report.returned:
            headers = HeaderParser(policy=policy.default).parsestr(_text(part))
            _read_returned(headers, report)
        elif part.get_content_maintype() == "text":
            report.see(_text(part), named=True)
    return report


def _leaves(msg: Message):
    """Parts of MSG, not descending into a returned message."""
    parts = msg.get_payload()
    if msg.get_content_maintype() == "multipart" and isinstance(parts, list):
        for part in parts:
            yield from _leaves(part)
    else:
        yield msg


def _text(part: Message) -> str:
    try:
        text = part.get_content()
    except (LookupError, ValueError, AssertionError):  # unknown charset, bad CTE
        payload = part.get_payload(decode=True) or b""
        text = payload.decode("utf-8", "replace")
    return text[:TEXT_LIMIT] if isinstance(text, str) else ""


def _str(value) -> str:
    try:
        return str(value)
    except Exception:  # a malformed header the policy cannot render
        return ""


def _read_status(part: Message, report: Report) -> None:
    """Action and Status of the per-recipient blocks; names to withhold."""
    blocks = part.get_payload()
    for block in blocks if isinstance(blocks, list) else []:
        for name, value in block.items():
            value = _str(value)
            report.see(value, named=True)
            if name.title() in MTA_FIELDS:
                report.named.add(value.partition(";")[2].strip().lower().strip("[]"))
        action = _str(block.get("Action", "")).strip().lower()
        if action in ACTIONS and (
            not report.stated or ACTIONS.index(action) < ACTIONS.index(report.action)
        ):
            report.action, report.stated = action, True
            status = _str(block.get("Status", "")).strip()
            report.status = status if _STATUS.fullmatch(status) else _generic(action)
    report.named.discard("")


def _generic(action: str) -> str:
    return {"failed": "5.0.0", "delayed": "4.0.0"}.get(action, "2.0.0")


def spellings(name: str) -> set[str]:
    """NAME (an address or a host) with its domain both as IDNA and as
    Unicode: the registry keeps the one, a report may write the other."""
    local, at, domain = name.rpartition("@")
    found = {name}
    for convert in (idna.encode, idna.decode):
        try:
            other = convert(domain, uts46=True)
        except (idna.IDNAError, UnicodeError, ValueError):
            continue
        other = other.decode() if isinstance(other, bytes) else other
        found.add(f"{local}{at}{other.lower()}")
    return found


def _read_returned(original, report: Report) -> None:
    if not isinstance(original, Message):  # an empty or broken part
        return
    for name, value in original.items():
        value = _str(value)
        identifying = name.title() in (f.title() for f in IDENTIFYING)
        report.see(value, named=not identifying)
        if identifying:
            report.returned.append((name, value))


def withheld(
    report: Report, sender: str, ours: set[str], forwards: set[str]
) -> set[str]:
    """Names that may not reach SENDER: the destination's addresses and
    hosts, and the FORWARDS (an account's forward addresses) with their
    domains; never SENDER's own domain or ours (OURS: domains and hosts)."""
    keep = {*ours, sender.rpartition("@")[2].lower(), sender.lower()} - {""}
    names = {*report.named, *private(forwards)}
    domains = {n.rpartition("@")[2] for n in names if "@" in n}
    return {
        spelling
        for name in names | domains
        if name and name not in keep and name.rpartition("@")[2] not in ours
        for spelling in spellings(name)
    }


def private(forwards: set[str]) -> set[str]:
    """What no field may contain: each FORWARD in every spelling, and its
    local part when that is long enough to tell."""
    terms = set()
    for forward in forwards:
        terms |= spellings(forward.lower())
        local = forward.lower().rpartition("@")[0]
        if len(local) >= LOCAL_PART_MIN:
            terms.add(local)
    return terms


TEXTS = {
    "failed": (
        "Messaggio non consegnato / Undelivered message",
        "Il tuo messaggio è arrivato a {address}, ma la destinazione a cui\n"
        "questo indirizzo inoltra la posta non lo ha accettato.",
        "Your message reached {address}, but the destination this address\n"
        "forwards to did not accept it.",
    ),
    "delayed": (
        "Consegna ritardata / Delayed delivery",
        "Il tuo messaggio è arrivato a {address}; la destinazione a cui\n"
        "questo indirizzo inoltra la posta non l'ha ancora consegnato e\n"
        "riproverà. Per ora non serve fare nulla.",
        "Your message reached {address}; the destination this address\n"
        "forwards to has not delivered it yet and will keep trying. Nothing\n"
        "needs to be done for now.",
    ),
    "delivered": (
        "Messaggio consegnato / Delivered message",
        "Il tuo messaggio è arrivato a {address} ed è stato consegnato.",
        "Your message reached {address} and was delivered.",
    ),
}
PRIVACY = (
    "L'indirizzo di inoltro è riservato e non viene mostrato.",
    "The forward address is private and is not shown.",
)


def rebuild(
    report: Report,
    *,
    sender: str,
    address: str | None,
    withheld: set[str],
    forwards: set[str],
    hostname: str,
    placeholder: str,
) -> EmailMessage:
    """A report of ours to SENDER about their message to ADDRESS (the
    account's address; None when it cannot be told: PLACEHOLDER stands in
    for it), naming nothing in WITHHELD and none of FORWARDS."""
    kind = report.action if report.action in TEXTS else "delivered"
    subject, italian, english = TEXTS[kind]
    shown = address or "un indirizzo di esteri / an esteri address"
    msg = EmailMessage()
    msg["From"] = f"Mail Delivery System <MAILER-DAEMON@{hostname}>"
    msg["To"] = sender or "undisclosed-recipients:;"
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=hostname)
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content(
        "\n\n".join(
            (
                italian.format(address=shown),
                PRIVACY[0],
                english.format(address=shown),
                PRIVACY[1],
            )
        )
        + "\n",
        cte="quoted-printable",
    )
    msg.make_mixed()
    msg.set_type("multipart/report")
    msg.set_param("report-type", "delivery-status")
    msg.attach(_status_part(report, address or placeholder, hostname))
    msg.attach(_returned_part(report, withheld, private(forwards)))
    return msg


def _status_part(report: Report, recipient: str, hostname: str) -> Message:
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = f"dns; {hostname}"
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = report.action
    per_recipient["Status"] = report.status
    part = Message()
    part["Content-Type"] = "message/delivery-status"
    part["Content-Description"] = "Delivery report"
    part.set_payload([per_message, per_recipient])
    return part


def _returned_part(
    report: Report, withheld: set[str], forwards: set[str]
) -> MIMEPart:
    # A message id is no address: only hosts count there (the sender's own
    # id reappears in the report's prose and must not void itself), and
    # the forward addresses, which a destination may have put in it.
    hosts = {term for term in withheld if "@" not in term}
    fields = MIMEPart()
    for name, value in report.returned:
        terms = hosts if name.lower() == "message-id" else withheld
        shown = _BLANKS.sub(" ", value).strip()
        if len(shown) > FIELD_LIMIT or _names(shown, terms | forwards):
            continue
        try:
            fields[name] = shown
        except (ValueError, TypeError):  # a field the policy cannot write
            continue
    part = MIMEPart()
    part.set_content(fields.as_string(policy=policy.SMTP), subtype="rfc822-headers")
    part["Content-Description"] = "Headers of your message"
    return part


def _names(value: str, terms: set[str]) -> bool:
    """Whether VALUE names any of TERMS, however spaced or composed."""
    # Invisible format characters (zero-width space, soft hyphen) go too.
    visible = "".join(c for c in value if unicodedata.category(c) != "Cf")
    folded = unicodedata.normalize("NFKC", _BLANKS.sub("", visible)).lower()
    return any(term in folded for term in terms)


def wire(msg: EmailMessage) -> tuple[list[tuple[str, str]], bytes]:
    """MSG as the milter hands it over: header fields, then the body."""
    raw = msg.as_bytes(policy=_WIRE)
    head, _, body = raw.partition(b"\r\n\r\n")
    fields = BytesHeaderParser(policy=policy.compat32).parsebytes(head + b"\r\n\r\n")
    return list(fields.items()), body
