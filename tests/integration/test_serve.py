"""The README's service walk-through, for real: `leadsla serve` on loopback, curl-like calls."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_token_ingest_and_read(tmp_path: Path) -> None:
    env = {**os.environ, "LEADSLA_DATABASE_URL": f"sqlite:///{tmp_path / 'leadsla.db'}"}
    upgrade = subprocess.run(
        [LEADSLA, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60
    )
    assert upgrade.returncode == 0, upgrade.stderr
    token = subprocess.run(
        [LEADSLA, "token", "create", "--config", str(CONFIG), "--role", "admin", "--name", "ops"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert token.startswith("lsla_")
    bad = subprocess.run(
        [LEADSLA, "token", "create", "--config", str(CONFIG), "--role", "rep", "--name", "x",
         "--rep", "r9"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.strip() == "leadsla: error: --rep: 'r9' is not a rep of the config"

    port = free_port()
    server = subprocess.Popen(
        [LEADSLA, "serve", "--config", str(CONFIG), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}
        sent = httpx.post(
            f"{base}/events",
            headers=headers,
            json=[
                {"id": "e1", "lead_id": "L100", "at": "2026-03-02T09:00:00-05:00",
                 "field": "status", "value": "New"},
                {"id": "e2", "lead_id": "L100", "at": "2026-03-02T09:00:00-05:00",
                 "field": "grade", "value": "A"},
                {"id": "e3", "lead_id": "L100", "at": "2026-03-02T09:00:00-05:00",
                 "field": "owner", "value": "r1"},
            ],
            timeout=30,
        )  # fmt: skip
        assert sent.json() == {"accepted": 3, "duplicates": 0, "rejected": []}
        clocks = httpx.get(
            f"{base}/clocks",
            params={"lead_id": "L100", "as_of": "2026-03-02T15:00:00-05:00"},
            headers=headers,
            timeout=30,
        ).json()
        assert [(c["policy"], c["state"], c["due_at"]) for c in clocks] == [
            ("follow_up", "running", "2026-03-03T10:00:00-05:00")
        ]
        assert httpx.get(f"{base}/clocks", timeout=10).status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)
