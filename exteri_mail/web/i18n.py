"""The web pages' words in Italian (the default) and English.

Messages of the registry's rules (names, forward addresses) are the same
text the CLI prints; pages put a translated label before them.
"""

from ..requests import LANGUAGES

DEFAULT = LANGUAGES[0]

CATALOG: dict[str, dict[str, str]] = {
    "it": {
        "other_language": "English",
        "site": "Posta {domain}",
        "request.title": "Richiedi un indirizzo {domain}",
        "request.intro": (
            "Compila il modulo: ti manderemo un messaggio per confermare la tua "
            "casella; poi un operatore esaminerà la richiesta."
        ),
        "request.first": "Nome (uno o più)",
        "request.last": "Cognome (da nubile o da sposata, a tua scelta)",
        "request.forward": "La tua casella attuale, dove inoltrare la posta",
        "request.note": "Nota per gli operatori (facoltativa)",
        "request.privacy": "Ho letto e accetto l'informativa sulla privacy",
        "request.privacy_link": "informativa sulla privacy",
        "request.honeypot": "Lascia vuoto questo campo",
        "request.preview": "Il tuo indirizzo sarà",
        "request.submit": "Invia la richiesta",
        "request.sent.title": "Controlla la tua casella",
        "request.sent.body": (
            "Se i dati sono corretti, riceverai a breve un messaggio con un "
            "collegamento per confermare la richiesta. Senza conferma la "
            "richiesta scade da sola."
        ),
        "field.first_name": "Nome",
        "field.last_name": "Cognome",
        "field.forward": "Casella attuale",
        "field.note": "Nota",
        "field.privacy": "Informativa",
        "error.privacy": "devi accettare l'informativa sulla privacy",
        "error.fix": "Correggi i campi indicati e invia di nuovo.",
        "confirm.title": "Conferma la richiesta",
        "confirm.body": (
            "Confermi di voler chiedere l'indirizzo {address} con inoltro a {forward}?"
        ),
        "confirm.button": "Confermo",
        "confirmed.title": "Richiesta confermata",
        "confirmed.body": (
            "Grazie. La richiesta per {address} è ora all'esame degli operatori; "
            "riceverai una risposta a {forward}."
        ),
        "error.title": "Non è stato possibile procedere",
        "error.csrf": (
            "Il modulo è scaduto o non proviene da questo sito. Ricarica la "
            "pagina e riprova."
        ),
        "error.rate": (
            "Troppe richieste in poco tempo da questa connessione o per questa "
            "casella. Riprova più tardi."
        ),
        "error.too_large": "I dati inviati sono troppo lunghi.",
        "error.send": (
            "Non è stato possibile inviare il messaggio di conferma. Riprova più tardi."
        ),
        "error.not_found": "Pagina non trovata.",
        "error.internal": "Errore interno. Riprova più tardi.",
        "token.unknown": "Il collegamento non è valido.",
        "token.expired": (
            "Il collegamento è scaduto. Chiedine uno nuovo agli operatori "
            "(o invia di nuovo la richiesta)."
        ),
        "token.used": "Il collegamento è già stato usato.",
        "token.revoked": (
            "Il collegamento è stato sostituito da uno più recente o non è più valido."
        ),
        "setup.title": "Il tuo indirizzo {address}",
        "setup.plan": "Piano: {plan}",
        "setup.gives": "Cosa comprende",
        "setup.gives.forward": "La posta per {address} arriva a {forward}.",
        "setup.gives.alias": "Risponde anche a {alias}.",
        "setup.gives.submission": (
            "Puoi spedire con il mittente {address} dal tuo programma di posta "
            "(server SMTP autenticato)."
        ),
        "setup.gives.mailbox": "Una casella di {size} sul nostro server.",
        "setup.gives.imap": "Accesso IMAP e POP3 alla casella.",
        "setup.gives.webmail": "Posta via web: {url}",
        "setup.easy.title": "Come far comparire {address} in Gmail o Outlook",
        "setup.easy.gmail": (
            "Gmail: crea un filtro (Impostazioni, Filtri, «A: {address}») che "
            "applichi un'etichetta, così riconosci la posta arrivata al nuovo "
            "indirizzo."
        ),
        "setup.easy.outlook": (
            "Outlook: in Impostazioni account, Altre impostazioni, Generale, "
            "scrivi {address} come «Indirizzo di risposta»: chi ti risponde "
            "scriverà al nuovo indirizzo."
        ),
        "setup.easy.outbox": (
            "Per spedire con {address} come mittente serve il piano Outbox: "
            "chiedilo agli operatori."
        ),
        "setup.servers.title": "Impostazioni del programma di posta",
        "setup.servers.service": "Servizio",
        "setup.servers.host": "Server",
        "setup.servers.port": "Porta",
        "setup.servers.security": "Sicurezza",
        "setup.servers.username": "Nome utente",
        "setup.servers.password": "Password: quella che scegli qui sotto.",
        "setup.service.imap": "Posta in arrivo (IMAP)",
        "setup.service.pop3": "Posta in arrivo (POP3)",
        "setup.service.smtp": "Posta in uscita (SMTP)",
        "setup.security.SSL": "SSL/TLS",
        "setup.security.STARTTLS": "STARTTLS",
        "setup.auto.title": "Configurazione automatica",
        "setup.auto.thunderbird": (
            "Thunderbird e molti altri programmi si configurano da soli "
            "inserendo {address}:"
        ),
        "setup.auto.outlook": "Outlook usa il servizio Autodiscover:",
        "setup.auto.apple": "iPhone, iPad e Mac: scarica il profilo",
        "setup.password.title": "Scegli la password",
        "setup.password.new": "Nuova password (almeno {min} caratteri)",
        "setup.password.again": "Ripeti la password",
        "setup.password.button": "Imposta la password",
        "setup.password.mismatch": "le due password non coincidono",
        "setup.password.done": (
            "Password impostata. Per cambiarla in futuro chiedi un nuovo "
            "collegamento agli operatori."
        ),
        "setup.password.used": (
            "La password è già stata scelta con questo collegamento; per "
            "cambiarla chiedi un nuovo collegamento agli operatori."
        ),
        "setup.expires": "Questa pagina è valida fino al {date}.",
        "privacy.title": "Informativa sulla privacy",
        "privacy.body": (
            "Conserviamo i dati del modulo (nomi, casella attuale, nota, "
            "indirizzo IP) per esaminare la richiesta e gestire l'indirizzo. "
            "Non li cediamo a terzi. Puoi chiederne la cancellazione "
            "scrivendo a {support}."
        ),
    },
    "en": {
        "other_language": "Italiano",
        "site": "{domain} mail",
        "request.title": "Request a {domain} address",
        "request.intro": (
            "Fill in the form: we will send you a message to confirm your "
            "mailbox; then an operator will review the request."
        ),
        "request.first": "First name(s)",
        "request.last": "Last name (maiden or married, your choice)",
        "request.forward": "Your current mailbox, where mail is forwarded",
        "request.note": "Note for the operators (optional)",
        "request.privacy": "I have read and accept the privacy terms",
        "request.privacy_link": "privacy terms",
        "request.honeypot": "Leave this field empty",
        "request.preview": "Your address will be",
        "request.submit": "Send the request",
        "request.sent.title": "Check your mailbox",
        "request.sent.body": (
            "If the details are right, you will soon receive a message with a "
            "link to confirm the request. Without confirmation the request "
            "expires by itself."
        ),
        "field.first_name": "First name",
        "field.last_name": "Last name",
        "field.forward": "Current mailbox",
        "field.note": "Note",
        "field.privacy": "Privacy",
        "error.privacy": "you must accept the privacy terms",
        "error.fix": "Correct the fields shown and send again.",
        "confirm.title": "Confirm the request",
        "confirm.body": (
            "Do you confirm that you ask for the address {address}, forwarding "
            "to {forward}?"
        ),
        "confirm.button": "I confirm",
        "confirmed.title": "Request confirmed",
        "confirmed.body": (
            "Thank you. The request for {address} is now with the operators; "
            "you will get an answer at {forward}."
        ),
        "error.title": "This could not be done",
        "error.csrf": (
            "The form has expired or does not come from this site. Reload the "
            "page and try again."
        ),
        "error.rate": (
            "Too many requests in a short time from this connection or for "
            "this mailbox. Try again later."
        ),
        "error.too_large": "The data sent is too long.",
        "error.send": "The confirmation message could not be sent. Try again later.",
        "error.not_found": "Page not found.",
        "error.internal": "Internal error. Try again later.",
        "token.unknown": "The link is not valid.",
        "token.expired": (
            "The link has expired. Ask the operators for a new one (or send the "
            "request again)."
        ),
        "token.used": "The link has already been used.",
        "token.revoked": "The link was replaced by a newer one or is no longer valid.",
        "setup.title": "Your address {address}",
        "setup.plan": "Plan: {plan}",
        "setup.gives": "What it includes",
        "setup.gives.forward": "Mail for {address} arrives at {forward}.",
        "setup.gives.alias": "It also answers at {alias}.",
        "setup.gives.submission": (
            "You can send with {address} as sender from your mail program "
            "(authenticated SMTP server)."
        ),
        "setup.gives.mailbox": "A {size} mailbox on our server.",
        "setup.gives.imap": "IMAP and POP3 access to the mailbox.",
        "setup.gives.webmail": "Webmail: {url}",
        "setup.easy.title": "How to make {address} show in Gmail or Outlook",
        "setup.easy.gmail": (
            'Gmail: create a filter (Settings, Filters, "To: {address}") that '
            "applies a label, so you recognise mail sent to the new address."
        ),
        "setup.easy.outlook": (
            "Outlook: in Account settings, More settings, General, enter "
            '{address} as "Reply e-mail": people answering you will write to '
            "the new address."
        ),
        "setup.easy.outbox": (
            "Sending with {address} as sender needs the Outbox plan: ask the operators."
        ),
        "setup.servers.title": "Mail program settings",
        "setup.servers.service": "Service",
        "setup.servers.host": "Server",
        "setup.servers.port": "Port",
        "setup.servers.security": "Security",
        "setup.servers.username": "User name",
        "setup.servers.password": "Password: the one you choose below.",
        "setup.service.imap": "Incoming mail (IMAP)",
        "setup.service.pop3": "Incoming mail (POP3)",
        "setup.service.smtp": "Outgoing mail (SMTP)",
        "setup.security.SSL": "SSL/TLS",
        "setup.security.STARTTLS": "STARTTLS",
        "setup.auto.title": "Automatic set-up",
        "setup.auto.thunderbird": (
            "Thunderbird and many other programs set themselves up when you "
            "enter {address}:"
        ),
        "setup.auto.outlook": "Outlook uses the Autodiscover service:",
        "setup.auto.apple": "iPhone, iPad and Mac: download the profile",
        "setup.password.title": "Choose your password",
        "setup.password.new": "New password (at least {min} characters)",
        "setup.password.again": "Repeat the password",
        "setup.password.button": "Set the password",
        "setup.password.mismatch": "the two passwords differ",
        "setup.password.done": (
            "Password set. To change it later, ask the operators for a new link."
        ),
        "setup.password.used": (
            "The password was already chosen with this link; to change it, ask "
            "the operators for a new link."
        ),
        "setup.expires": "This page is valid until {date}.",
        "privacy.title": "Privacy terms",
        "privacy.body": (
            "We keep the data of the form (names, current mailbox, note, IP "
            "address) to review the request and run the address. We give them "
            "to no one else. You can ask for them to be deleted by writing to "
            "{support}."
        ),
    },
}


def translate(language: str, key: str, **values) -> str:
    text = CATALOG.get(language, CATALOG[DEFAULT]).get(key) or CATALOG[DEFAULT][key]
    return text.format(**values) if values else text
