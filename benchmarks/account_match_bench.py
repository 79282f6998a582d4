"""The account match's look-up of owners a CRM set (docs/crm.md, "Account match").

Fills the ``leads`` table of a fresh SQLite file with ``--leads`` owned leads (20,000
companies, each with an email domain of its own), then times
``store.decisions.owned_leads_of_accounts`` for a routed batch of 1 and of 50 new
accounts: CPU and wall seconds, best of three.

    .venv/bin/python benchmarks/account_match_bench.py                  # 200,000 leads
    .venv/bin/python benchmarks/account_match_bench.py --leads 50000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from leadsla.store.database import open_database
from leadsla.store.decisions import owned_leads_of_accounts
from leadsla.store.tables import leads

COMPANIES = 20_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = open_database(f"sqlite:///{Path(folder) / 'accounts.db'}")
        rows = [
            {
                "lead_id": f"L{n}",
                "fields": {
                    "company": f"Co {n % COMPANIES}",
                    "email": f"p{n}@co{n % COMPANIES}.example",
                },
                "status": "Contacted",
                "owner": f"r{n % 3 + 1}",
                "grade": "A",
                "last_at": n,
                "events": 3,
                "updated_at": 0,
            }
            for n in range(args.leads)
        ]
        with engine.begin() as connection:
            connection.execute(leads.insert(), rows)
        with engine.connect() as connection:
            for size in (1, 50):
                best: tuple[float, float, int] | None = None
                for _ in range(3):
                    wall, cpu = time.perf_counter(), time.process_time()
                    found = owned_leads_of_accounts(
                        connection,
                        account_field="company",
                        companies=[f"co {i}" for i in range(size)],
                        email_field="email",
                        domains=[f"co{i}.example" for i in range(size)],
                        owners=["r1", "r2", "r3"],
                    )
                    run = (time.process_time() - cpu, time.perf_counter() - wall, len(found))
                    best = run if best is None or run < best else best
                assert best is not None
                print(
                    f"{args.leads} owned leads, {size} account(s): {best[2]} leads found, "
                    f"{best[0]:.2f} s CPU, {best[1]:.2f} s wall"
                )
        engine.dispose()


if __name__ == "__main__":
    main()
