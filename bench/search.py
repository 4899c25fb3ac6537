"""Passenger search on a realistic registry: p50/p95 latency, with a baseline from the same run.

Creates its OWN database (``st_bench_search_<pid>``, migrated like production), bulk-loads a
seeded registry with COPY (500,000 passengers by default, 1–2 phones each, Russian names with
realistic repetition), then measures the production search path (``dispatch.search.parse_query``
→ ``dispatch.store.passengers.search_by_*``) for:

* phone, full number typed in assorted formats (``+7 (921) 123-45-67``, ``8 921 ...``);
* phone, partial (last 7 digits, or ``8 9xx xxx`` prefix);
* ФИО + birth date, exact (random case, ё/е swapped);
* ФИО + birth date with a typo (one letter of the surname changed);
* ФИО only with a typo (informational: no birth date to narrow it).

Baseline, measured in the same run on the same data and the same queries: the search indexes
(trigram and btree on ``name_norm``, ``birth_date``, ``phone_norm``) are created only AFTER the
baseline pass, so the baseline is what PostgreSQL does without them (sequential scans).

The database is dropped at the end. Usage::

    .venv/bin/python bench/search.py [--passengers 500000] [--queries 200] [--baseline-queries 15]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from datetime import date

# Run as a script, this folder is sys.path[0]; bench/dispatch.py would shadow the dispatch package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
import numpy as np  # noqa: E402
import psycopg  # noqa: E402

from db import migrate  # noqa: E402
from dispatch.identity import normalize_name  # noqa: E402
from dispatch.search import NameQuery, parse_query  # noqa: E402
from dispatch.store import passengers as pstore  # noqa: E402

SEED = 20260316
SERVER = os.environ.get("SOCIALTAXI_TEST_PG", "postgresql://postgres@127.0.0.1:5432")

SURNAMES = """
Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов
Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров
Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин
Фролов Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов
Ковалёв Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев
Герасимов Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов
Мельников Денисов Гаврилов Тихонов Казаков Афанасьев Данилов Савельев Тимофеев Фомин Чернов
Абрамов Мартынов Ефимов Федотов Щербаков Назаров Калинин Исаев Чернышёв Быков Маслов
Родионов Коновалов Лазарев Воронин Климов Филатов Пономарёв Голубев Кудрявцев Прохоров
Наумов Потапов Журавлёв Овчинников Трофимов Леонов Соболев Ермаков Колесников Гончаров
Емельянов Никифоров Грачёв Котов Гришин Ефремов Архипов Громов Кириллов Малышев Панов
Моисеев Румянцев Акимов Кондратьев Бирюков Горбунов Анисимов Ерёмин Тихомиров Галкин
Лукьянов Михеев Скворцов Юдин Белоусов Нестеров Симонов Прокофьев Харитонов Князев Цветков
Левин Митрофанов Воронов Аксёнов Софронов Мальцев Логинов Горшков Савин Краснов Майоров
Демидов Елисеев Рыбаков Сафонов Плотников Дёмин Хохлов Фадеев Молчанов Игнатов Литвинов
Ершов Ушаков Дементьев Рябов Мухин Калашников Леонтьев Лобанов Кузин Корнилов Евдокимов
Бородин Платонов Некрасов Балашов Бобров Жданов Блинов Игнатьев Коротков Муравьёв Крюков
Беляков Богомолов Дроздов Лавров Зуев Петухов Ларин Никулин Серов Терентьев Зотов Устинов
Фокин Самойлов Константинов Сахаров Шишкин Самсонов Черкасов Чистяков Носов Спиридонов
Карасёв Авдеев Воронцов Зверев Владимиров Селезнёв Нечаев Кудряшов Седов Фирсов Андрианов
Панин Головин Терехов Ульянов Шестаков Агеев Никонов Селиванов Баженов Гордеев Кожевников
Пахомов Зимин Костин Широков Филимонов Ларионов Овсянников Сазонов Суворов Нефёдов Корнилов
Любимов Львов Горбачёв Копылов Лукин Токарев Кулешов Шилов Большаков Панкратов Родин
Шаповалов Покровский
""".split()

MALE = """
Александр Алексей Анатолий Андрей Борис Валентин Валерий Василий Виктор Виталий Владимир
Вячеслав Геннадий Георгий Григорий Дмитрий Евгений Иван Игорь Леонид Михаил Николай Олег
Павел Пётр Роман Сергей Станислав Фёдор Юрий Яков Семён Степан Тимофей Константин Аркадий
Эдуард Илья
""".split()
FEMALE = """
Александра Алла Анна Антонина Валентина Валерия Вера Галина Дарья Евгения Екатерина Елена
Зинаида Зоя Инна Ирина Клавдия Лариса Лидия Любовь Людмила Маргарита Марина Мария Надежда
Наталья Нина Нона Ольга Раиса Светлана Софья Тамара Татьяна Юлия Фаина Полина Ксения
Серафима
""".split()

_PATRONYMIC_EXCEPTIONS = {
    "Илья": ("Ильич", "Ильинична"),
    "Яков": ("Яковлевич", "Яковлевна"),
    "Пётр": ("Петрович", "Петровна"),
    "Лев": ("Львович", "Львовна"),
    "Павел": ("Павлович", "Павловна"),
    "Фёдор": ("Фёдорович", "Фёдоровна"),
    "Семён": ("Семёнович", "Семёновна"),
    "Григорий": ("Григорьевич", "Григорьевна"),
    "Георгий": ("Георгиевич", "Георгиевна"),
    "Дмитрий": ("Дмитриевич", "Дмитриевна"),
}


def _patronymics(name: str) -> tuple[str, str]:
    if name in _PATRONYMIC_EXCEPTIONS:
        return _PATRONYMIC_EXCEPTIONS[name]
    if name.endswith("ий"):
        return name[:-2] + "иевич", name[:-2] + "иевна"
    if name.endswith("й"):
        return name[:-1] + "евич", name[:-1] + "евна"
    return name + "ович", name + "овна"


def _female_surname(s: str) -> str:
    if s.endswith("ий"):
        return s[:-2] + "ая"
    return s + "а"


# --- data --------------------------------------------------------------------------------------
def generate(n: int, rng: np.random.Generator) -> dict[str, np.ndarray | list]:
    """Seeded registry: arrays of names, birth dates and phones (row i is passenger id i + 1)."""
    female = rng.random(n) < 0.62  # the service's passengers are mostly elderly women
    # Zipf-like surname popularity: a few very common, a long tail
    weights = 1.0 / np.arange(1, len(SURNAMES) + 1) ** 0.8
    sur = rng.choice(len(SURNAMES), size=n, p=weights / weights.sum())
    first_m = rng.integers(0, len(MALE), n)
    first_f = rng.integers(0, len(FEMALE), n)
    father = rng.integers(0, len(MALE), n)
    no_patronymic = rng.random(n) < 0.02
    birth0 = date(1928, 1, 1).toordinal()
    birth = birth0 + rng.integers(0, date(1975, 12, 31).toordinal() - birth0, n)
    phones1 = 79_000_000_000 + rng.integers(0, 1_000_000_000, n)
    second = rng.random(n) < 0.35
    landline = rng.random(n) < 0.5  # a home phone in St Petersburg (812) or another mobile
    phones2 = np.where(
        landline,
        78_120_000_000 + rng.integers(0, 10_000_000, n),
        79_000_000_000 + rng.integers(0, 1_000_000_000, n),
    )
    last, first, middle = [], [], []
    for i in range(n):
        s = SURNAMES[sur[i]]
        if female[i]:
            last.append(_female_surname(s))
            first.append(FEMALE[first_f[i]])
            middle.append(None if no_patronymic[i] else _patronymics(MALE[father[i]])[1])
        else:
            last.append(s)
            first.append(MALE[first_m[i]])
            middle.append(None if no_patronymic[i] else _patronymics(MALE[father[i]])[0])
    return {
        "last": last,
        "first": first,
        "middle": middle,
        "birth": birth,
        "phone1": phones1,
        "phone2": np.where(second, phones2, 0),
    }


def load(conn: psycopg.Connection, data: dict) -> None:
    n = len(data["last"])
    buf = io.StringIO()
    for i in range(n):
        mid = data["middle"][i]
        buf.write(
            f"{data['last'][i]}\t{data['first'][i]}\t{mid if mid else chr(92) + 'N'}\t"
            f"{date.fromordinal(int(data['birth'][i])).isoformat()}\t"
            f"{normalize_name(data['last'][i], data['first'][i], mid)}\n"
        )
    with conn.cursor() as cur:
        with cur.copy(
            "COPY passengers (last_name, first_name, middle_name, birth_date, name_norm) FROM STDIN"
        ) as cp:
            cp.write(buf.getvalue())
    ids = conn.execute("SELECT min(id), max(id), count(*) FROM passengers").fetchone()
    assert ids == (1, n, n), ids
    buf = io.StringIO()
    for i in range(n):
        buf.write(f"{i + 1}\t{data['phone1'][i]}\tt\n")
        p2 = int(data["phone2"][i])
        if p2 and p2 != int(data["phone1"][i]) and len(str(p2)) == 11:
            buf.write(f"{i + 1}\t{p2}\tf\n")
    with conn.cursor() as cur:
        copy_sql = "COPY passenger_phones (passenger_id, phone_norm, is_primary) FROM STDIN"
        with cur.copy(copy_sql) as cp:
            cp.write(buf.getvalue())


SEARCH_INDEXES = (
    "passengers_name_trgm",
    "passengers_name_words",
    "passengers_name_birth",
    "passengers_birth",
    "passenger_phones_norm",
    "passenger_phones_trgm",
)


def index_ddl(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE indexname = ANY(%s) ORDER BY indexname",
        (list(SEARCH_INDEXES),),
    ).fetchall()
    return [r[0] for r in rows]


# --- queries -----------------------------------------------------------------------------------
def _fmt_phone(p: str, style: int) -> str:
    d = p[1:]
    return [
        f"+7 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}",
        f"8 {d[:3]} {d[3:6]} {d[6:8]} {d[8:]}",
        f"8-{d[:3]}-{d[3:6]}-{d[6:8]}-{d[8:]}",
        f"+7{d}",
        f"8({d[:3]}){d[3:]}",
    ][style % 5]


def _typo(word: str, rng: np.random.Generator) -> str:
    letters = "абвгдежзиклмнопрстуфхцчшщыэюя"
    i = int(rng.integers(1, max(2, len(word) - 1)))
    return word[:i] + letters[int(rng.integers(0, len(letters)))] + word[i + 1 :]


def _case(text: str, rng: np.random.Generator) -> str:
    r = rng.random()
    text = text.replace("е", "ё") if rng.random() < 0.2 else text.replace("ё", "е")
    return text.upper() if r < 0.2 else text.lower() if r < 0.5 else text


def make_queries(data: dict, rng: np.random.Generator, k: int) -> dict[str, list[tuple[int, dict]]]:
    n = len(data["last"])
    pick = rng.choice(n, size=k, replace=False)
    q: dict[str, list[tuple[int, dict]]] = {
        "phone, full": [],
        "phone, partial": [],
        "name+birth, exact": [],
        "name+birth, typo": [],
        "name only, typo": [],
    }
    for j, i in enumerate(pick):
        pid = int(i) + 1
        phone = str(int(data["phone1"][i]))
        bd = date.fromordinal(int(data["birth"][i]))
        full = " ".join(x for x in (data["last"][i], data["first"][i], data["middle"][i]) if x)
        q["phone, full"].append((pid, {"phone": _fmt_phone(phone, j)}))
        tail, head = f"{phone[4:7]}-{phone[7:9]}-{phone[9:]}", f"8 {phone[1:4]} {phone[4:7]}"
        partial = tail if j % 2 else head
        q["phone, partial"].append((pid, {"phone": partial}))
        q["name+birth, exact"].append((pid, {"name": _case(full, rng), "birth_date": bd}))
        typo = " ".join([_typo(data["last"][i].lower(), rng), *full.split()[1:]])
        q["name+birth, typo"].append((pid, {"name": typo, "birth_date": bd}))
        q["name only, typo"].append((pid, {"name": typo}))
    return q


def run(conn: psycopg.Connection, queries: list[tuple[int, dict]]) -> tuple[list[float], float]:
    """Latencies (ms) of each query through the production search path, and the recall."""
    times, found = [], 0
    for pid, body in queries:
        t0 = time.perf_counter()
        q = parse_query(None, **body)
        if isinstance(q, NameQuery):
            hits = pstore.search_by_name(
                conn, name_norm=q.name_norm, birth_date=q.birth_date, min_score=0.5, limit=20
            )
        else:
            hits = pstore.search_by_phone(conn, digits=q.digits, alt_digits=q.alt_digits, limit=20)
        conn.rollback()
        times.append((time.perf_counter() - t0) * 1000)
        found += any(h.id == pid for h in hits)
    return times, found / len(queries)


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs), p))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passengers", type=int, default=500_000)
    ap.add_argument("--queries", type=int, default=200, help="queries per kind, indexed pass")
    ap.add_argument(
        "--baseline-queries", type=int, default=15, help="queries per kind, baseline pass"
    )
    ap.add_argument("--keep", action="store_true", help="keep the database (for EXPLAIN)")
    args = ap.parse_args()

    rng = np.random.default_rng(SEED)
    name = f"st_bench_search_{os.getpid()}"
    url = f"{SERVER}/{name}"
    migrate.upgrade(url)
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            ddl = index_ddl(admin)
            for idx in SEARCH_INDEXES:
                admin.execute(f"DROP INDEX {idx}")
        t0 = time.perf_counter()
        data = generate(args.passengers, rng)
        t1 = time.perf_counter()
        with psycopg.connect(url) as conn:
            load(conn, data)
            conn.commit()
        t2 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("VACUUM ANALYZE passengers")
            admin.execute("VACUUM ANALYZE passenger_phones")
            row = admin.execute("SELECT count(*) FROM passenger_phones").fetchone()
            phones = row[0] if row else 0
        print(
            f"registry: {args.passengers:,} passengers, {phones:,} phones "
            f"(generated {t1 - t0:.1f} s, COPY {t2 - t1:.1f} s); seed {SEED}"
        )
        queries = make_queries(data, rng, args.queries)

        results: dict[str, dict[str, tuple[float, float, float]]] = {}
        with psycopg.connect(url) as conn:
            for kind, qs in queries.items():
                run(conn, qs[:2])  # warm-up
                ts, recall = run(conn, qs[: args.baseline_queries])
                results.setdefault(kind, {})["baseline"] = (pct(ts, 50), pct(ts, 95), recall)
        t3 = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as admin:
            for stmt in ddl:
                admin.execute(stmt)
            admin.execute("ANALYZE passengers")
            admin.execute("ANALYZE passenger_phones")
        print(f"search indexes built in {time.perf_counter() - t3:.1f} s")
        with psycopg.connect(url) as conn:
            for kind, qs in queries.items():
                run(conn, qs[:5])  # warm-up
                ts, recall = run(conn, qs)
                results[kind]["indexed"] = (pct(ts, 50), pct(ts, 95), recall)

        print()
        print(
            f"{'query':<20} {'indexed p50':>12} {'p95':>9} {'recall':>7}   "
            f"{'baseline p50':>13} {'p95':>9}  (n={args.queries} / {args.baseline_queries})"
        )
        for kind, r in results.items():
            i50, i95, irec = r["indexed"]
            b50, b95, _ = r["baseline"]
            print(
                f"{kind:<20} {i50:>9.2f} ms {i95:>6.2f} ms {irec:>6.0%}   "
                f"{b50:>10.1f} ms {b95:>6.1f} ms"
            )
        targets = [k for k in results if k != "name only, typo"]
        worst = max(results[k]["indexed"][1] for k in targets)
        verdict = "met" if worst < 50 else "NOT met"
        print(f"\ntarget p95 < 50 ms (phone, name+birth date): worst p95 {worst:.2f} ms: {verdict}")
        print(
            f"median of medians, indexed vs baseline: "
            f"{statistics.median(r['indexed'][0] for r in results.values()):.2f} ms vs "
            f"{statistics.median(r['baseline'][0] for r in results.values()):.1f} ms"
        )
    finally:
        if args.keep:
            print(f"database kept: {url}")
        else:
            _drop(name)


def _drop(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    main()
