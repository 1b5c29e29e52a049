"""Invented Italian-style people for the benchmarks, reproducible by seed.

Names mix given names (some compound, as in "Maria Grazia"), accented and
apostrophed surnames; about a million distinct nome.cognome addresses
exist, so the 1M lookup test needs no numbered names.
"""

import csv
import random
from collections.abc import Iterator
from pathlib import Path

from exteri_mail.names import local_part

GIVEN = """
Alessandro Alessia Alberto Alice Andrea Angela Angelo Anna Antonella Antonio
Arianna Aurora Barbara Beatrice Benedetta Bruno Camilla Carla Carlo Caterina
Cesare Chiara Claudia Claudio Cristina Daniela Daniele Dario Davide Debora
Diego Domenico Edoardo Elena Eleonora Elisa Emanuele Emma Enrico Erika
Federica Federico Filippo Flavia Francesca Francesco Gabriele Gabriella
Giacomo Gianluca Gianni Giorgia Giorgio Giovanna Giovanni Giulia Giuliana
Giulio Giuseppe Grazia Greta Guido Ilaria Irene Jacopo Laura Leonardo Letizia
Lorenzo Luca Lucia Luciano Luigi Manuela Marco Margherita Maria Marina Mario
Marta Martina Massimo Matteo Mattia Maurizio Michela Michele Monica Nadia
Nicola Nicolò Noemi Paola Paolo Patrizia Pietro Raffaele Riccardo Rita
Roberta Roberto Rosa Rossella Salvatore Sara Serena Silvia Simona Simone
Sofia Stefania Stefano Teresa Tommaso Valentina Valerio Vincenzo Viola
Vittoria Vittorio
""".split()

SURNAMES = [
    name.replace("_", " ")
    for name in dict.fromkeys(
        """
Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno
Gallo Conti De_Luca Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri
Fontana Santoro Mariani Rinaldi Caruso Ferrara Galli Martini Leone Longo
Gentile Martinelli Vitale Lombardo Serra Coppola De_Santis D'Angelo Marchetti
Parisi Villa Conte Ferraro Ferri Fabbri Bianco Marini Grasso Valentini Messina
Sala De_Angelis Gatti Pellegrini Palumbo Sanna Farina Rizzi Monti Cattaneo
Morelli Amato Silvestri Mazza Testa Grassi Pellegrino Carbone Giuliani
Benedetti Barone Rossetti Caputo Montanari Guerra Palmieri Bernardi Martino
Fiore De_Rosa Ferretti Bellini Basile Riva Donati Piras Vitali Battaglia
Sartori Neri Costantini Milani Pagano Ruggiero Sorrentino D'Amico Orlando
Damiani Negri Giuliano Bassi Fumagalli Poli Mele Zanetti Cirillo Gualtieri
Lo_Russo Agostini Bellucci Cocco Silvestro Pace Bonetti Marras Mancuso
Bonomi Zanella Ruggeri Bosco Ventura Marchi Longhi Bertolini Morello Orsini
Cavallo Carli Coletti Fadda Nicoletti Sala Fiorentino Bottari Calabrese
D'Alessandro Sartori Pastore Mariotti Ferrante Tedesco Marchese Santini
Bonfanti Cappelli Lupo Bellini Pozzi Monaco Ghezzi Mazzoni Cassano Ceccarelli
Cicciarelli Dell'Acqua Di_Stefano Di_Marco Di_Pietro Di_Giacomo Fabbri
""".split()
    )
]

PROVIDERS = (
    "gmail.com",
    "libero.it",
    "yahoo.it",
    "hotmail.it",
    "alice.it",
    "tiscali.it",
    "virgilio.it",
    "outlook.it",
    "fastwebnet.it",
    "tin.it",
)
PLAN_WEIGHTS = (("easy", 50), ("outbox", 20), ("plus", 30))
# Every migrated user of the benchmark has this password; the import copies
# hashes as they are, so a few distinct salts are as good as one per person.
PASSWORD = "Bench-pw-2025"


def hashes(count: int = 4) -> list[str]:
    from passlib.hash import sha512_crypt

    scheme = sha512_crypt.using(rounds=5000)
    return ["{SHA512-CRYPT}" + scheme.hash(PASSWORD) for _ in range(count)]


def generate(
    count: int, seed: int = 1, skip: int = 0, password_hashes: list[str] | None = None
) -> Iterator[dict]:
    """COUNT distinct people; SKIP the first ones of the same sequence."""
    rng = random.Random(seed)
    pool = password_hashes or hashes()
    plans = [name for name, weight in PLAN_WEIGHTS for _ in range(weight)]
    seen: set[str] = set()
    made = 0
    while made < skip + count:
        first, last = _name(rng)
        local = local_part(first, last)
        if local in seen:
            continue
        seen.add(local)
        made += 1
        person = _person(rng, first, last, local, rng.choice(plans), pool)
        if made > skip:
            yield person


def _name(rng: random.Random) -> tuple[str, str]:
    first = rng.choice(GIVEN)
    second = rng.choice(GIVEN)
    if rng.random() < 0.85 and second != first:
        first = f"{first} {second}"
    return first, rng.choice(SURNAMES)


def _person(
    rng: random.Random, first: str, last: str, local: str, plan: str, pool: list[str]
) -> dict:
    with_forward = plan != "plus" or rng.random() < 0.3
    forward = (
        f"{local}{rng.randint(1, 99)}@{rng.choice(PROVIDERS)}" if with_forward else ""
    )
    return {
        "first": first,
        "last": last,
        "plan": plan,
        "forward": forward,
        "alias": "true" if rng.random() < 0.2 else "false",
        "password_hash": rng.choice(pool) if plan != "easy" else "",
    }


def write_csv(path: Path, people: Iterator[dict]) -> int:
    columns = ["first", "last", "plan", "forward", "alias", "password_hash"]
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, columns)
        writer.writeheader()
        for person in people:
            writer.writerow(person)
            count += 1
    return count
