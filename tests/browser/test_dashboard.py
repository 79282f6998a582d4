"""The dashboard in a real browser: Playwright driving Debian's Chromium against uvicorn.

One server per module, on a free loopback port, over a SQLite file holding a small
demo company (``prepare_demo``); its clock is pinned to the instant the history
ends, a Wednesday morning in New York, so the at-risk list is never empty.

``LEADSLA_SCREENSHOTS=1`` saves a screenshot of each page (laptop and phone width)
to ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser_setup import CHROMIUM, chromium, served
from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.demo.company import demo_company
from leadsla.demo.setup import prepare_demo
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
NOW = parse_instant("2026-03-04T15:30:00Z")  # Wednesday 10:30 in New York
LEADS = 400
REP_NAMES = {rep.id: rep.name for rep in demo_company().reps}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium is not installed at /usr/bin/chromium (CI installs it)"
)


class Site:
    def __init__(self, base: str, tokens: dict[str, str], config: Path) -> None:
        self.base = base
        self.tokens = tokens
        self.config = config

    def api(self, login: str, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.base}/api/v1{path}",
            params={"as_of": "2026-03-04T15:30:00Z", **params},
            headers={"Authorization": f"Bearer {self.tokens[login]}"},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()

    def status(self, login: str, path: str) -> int:
        headers = {"Authorization": f"Bearer {self.tokens[login]}"}
        return httpx.get(f"{self.base}/api/v1{path}", headers=headers, timeout=60).status_code


ADMIN = "demo admin"
MANAGER = "Dana Whitfield (east manager)"
MAYA = "Maya Chen (east rep)"
SAM = "Sam Ortiz (east rep)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp("demo")
    setup = prepare_demo(directory, now=NOW, leads=LEADS, months=1, seed=7)
    config = load_config(setup.config)
    rules = build_rulebook(config)
    engine = open_database(setup.database_url)
    app = create_app(rules, engine, lambda: NOW, config=config)
    try:
        with served(app) as base:
            yield Site(base, setup.tokens, setup.config)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as opened:
        yield opened


def logged_in(browser: Any, site: Site, login: str, *, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(f"{site.base}/login")
    page.get_by_label("API token").fill(site.tokens[login])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/overview$"))
    return page


def shoot(page: Any, name: str) -> None:
    if os.environ.get("LEADSLA_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def figure(page: Any, name: str, within: str = "body") -> str:
    return str(page.locator(f"{within} [data-figure='{name}']").first.inner_text()).strip()


def ratio(value: float | None) -> str:
    """A ratio as the pages print it."""
    return "n/a" if value is None else f"{value:.0%}"


def band(low: float | None, high: float | None) -> str:
    """A 95 % interval as the pages print it."""
    return "n/a" if low is None or high is None else f"{low:.0%}–{high:.0%}"


def hours(value: float | None) -> str:
    """Hours as the legs table prints them (two decimals unless whole)."""
    if value is None:
        return "n/a"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"


def money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def test_login_refuses_a_bad_token_and_pages_need_a_session(browser: Any, site: Site) -> None:
    page = browser.new_page()
    page.goto(f"{site.base}/at-risk")
    assert page.url.endswith("/login?next=/at-risk")
    page.get_by_label("API token").fill("lsla_not-a-token")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "Unknown or revoked token."
    shoot(page, "login")
    page.close()


def test_overview_figures_are_the_apis(browser: Any, site: Site) -> None:
    page = logged_in(browser, site, ADMIN)
    report = site.api(ADMIN, "/report")
    month = report["by_month"]["2026-03"]
    mtd = report["mqls_month_to_date"]
    # The history ends at NOW: the month so far is the month's MQLs.
    assert figure(page, "mqls-month") == f"{mtd['this_month']['mqls']:,}" == f"{month['mqls']:,}"
    assert figure(page, "mqls-last-month-same-days") == f"{mtd['last_month']['mqls']:,}"
    assert figure(page, "mql-to-sal") == ratio(month["mql_to_sal"])
    assert figure(page, "compliance-follow_up") == ratio(month["compliance"]["follow_up"])
    at_risk = site.api(ADMIN, "/leads", at_risk_hours=8, limit=1000)
    assert figure(page, "at-risk") == str(len(at_risk)) != "0"
    overdue = site.api(ADMIN, "/leads", status="New", breached="true", limit=1000)
    assert figure(page, "overdue") == str(len(overdue))
    assert page.locator("svg[role=img]").count() >= 2
    # Median time to follow-up per score band, low to high, as the API gives them.
    bands = [b for b, f in report["by_score_band"].items() if f["time_to_follow_up"]["count"]]
    described = page.locator("#ttf-band-d").text_content() or ""
    assert bands and [part.split(":")[0] for part in described.split(". ") if part] == [
        f"score {band}" for band in bands
    ]
    # One burn-up per MQL commitment; its last point is the commitment's count so far.
    burn_ups = report["burn_up"]
    assert {b["name"] for b in burn_ups} == {"MQLs per quarter", "Healthcare MQLs per month"}
    counts = {c["name"]: c["count"] for c in report["commitments"]}
    last_points = page.locator("circle[data-count]").evaluate_all(
        "dots => dots.map(d => Number(d.dataset.count))"
    )
    assert last_points == [b["days"][-1]["count"] for b in burn_ups]
    assert last_points == [counts[b["name"]] for b in burn_ups] and last_points[0] > 0
    shown = page.locator("[data-figure='burn-up-count']").all_inner_texts()
    assert shown == [f"{b['count']:,}" for b in burn_ups]
    assert "not available yet" not in page.inner_text("main")
    shoot(page, "overview")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
    shoot(page, "overview-phone")
    page.close()


def test_at_risk_to_the_lead_page(browser: Any, site: Site) -> None:
    page = logged_in(browser, site, ADMIN)
    page.get_by_role("link", name="At risk").click()
    rows = page.locator("#at-risk tbody tr")
    expected = {lead["lead_id"] for lead in site.api(ADMIN, "/leads", at_risk_hours=8, limit=1000)}
    shown = set(rows.evaluate_all("rows => rows.map(r => r.dataset.lead)"))
    assert shown == expected
    # Countdowns on a calendar open at NOW tick; on a closed one (San Francisco before
    # opening) they stand still.
    now_ms = NOW // 1000
    opens = page.locator(".countdown").evaluate_all(
        "els => els.map(e => JSON.parse(e.dataset.open)[0][0])"
    )
    ticking = page.locator(".countdown").nth(opens.index(now_ms))
    waiting = page.locator(".countdown").nth(next(i for i, o in enumerate(opens) if o > now_ms))
    before = (ticking.inner_text(), waiting.inner_text())
    assert re.fullmatch(r"\d+:\d\d:\d\d", before[0])
    page.wait_for_timeout(2100)
    assert ticking.inner_text() != before[0]
    assert waiting.inner_text() == before[1]
    shoot(page, "at-risk")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Grade").select_option("A")
    page.get_by_role("button", name="Filter").click()
    grades = page.locator("#at-risk tbody tr td:nth-child(5)").all_inner_texts()
    a_leads = site.api(ADMIN, "/leads", at_risk_hours=8, grade="A", limit=1000)
    assert len(grades) == len(a_leads) and set(grades) <= {"A"}

    page.get_by_label("Grade").select_option("")
    page.get_by_role("button", name="Filter").click()
    lead_id = page.locator("#at-risk tbody tr").first.get_attribute("data-lead")
    page.get_by_role("link", name=lead_id, exact=True).click()
    page.wait_for_url(re.compile(f"/leads/{lead_id}$"))
    assert page.get_by_role("heading", level=1).inner_text() == f"Lead {lead_id}"
    lead = site.api(ADMIN, f"/leads/{lead_id}")
    assert figure(page, "status") == lead["status"]
    assert figure(page, "owner") == lead["owner"]
    assert page.locator("#clocks tbody tr").count() == len(lead["clocks"])
    assert page.locator("#history tbody tr").count() == len(lead["events"])
    assert "running" in page.locator("#clocks").inner_text()
    assert figure(page, "score") == points(lead["score_explanation"]["score"])
    pauses = sum(len(clock["pauses"]) for clock in lead["clocks"])
    assert page.locator("#pauses li").count() == pauses
    if not pauses:
        assert page.get_by_text("No clock of this lead has been paused.").is_visible()
    page.close()


def points(value: float) -> str:
    """Points as the lead page prints them."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def routed_lead(site: Site) -> dict[str, Any]:
    """The newest lead that routing assigned with a rep skipped (the demo's inbound leads
    are its newest)."""
    for summary in sorted(
        site.api(ADMIN, "/leads", status="New", limit=1000),
        key=lambda s: s["lead_id"],
        reverse=True,
    ):
        lead: dict[str, Any] = site.api(ADMIN, f"/leads/{summary['lead_id']}")
        if lead["assignment"] and lead["assignment"]["skipped"]:
            return lead
    raise AssertionError("the demo routed no lead with a rep skipped")


def test_lead_page_explains_the_score_and_the_assignment(browser: Any, site: Site) -> None:
    lead = routed_lead(site)
    lead_id = lead["lead_id"]
    score = site.api(ADMIN, f"/leads/{lead_id}/score")
    [decision] = [
        d for d in site.api(ADMIN, f"/leads/{lead_id}/decisions") if d["kind"] == "assignment"
    ]
    page = logged_in(browser, site, ADMIN)
    page.goto(f"{site.base}/leads/{lead_id}")
    section = page.get_by_role("region", name="Score explanation")
    assert figure(page, "score", "#score") == points(score["score"])
    assert figure(page, "score-grade", "#score") == score["grade"]
    verdict = figure(page, "mql", "#score")
    if score["trigger"]:
        assert verdict == f"MQL at once: trigger {score['trigger']}."
    elif score["mql"]:
        assert verdict == f"MQL: the score reaches the threshold of {score['mql_threshold']:g}."
    else:
        assert verdict.startswith("Not an MQL by score")
    rows = section.locator("#score-rules tbody tr")
    shown = rows.evaluate_all(
        "rows => rows.map(r => [r.dataset.rule, r.querySelector('[data-awarded]').innerText])"
    )
    assert shown == [[r["rule"], points(r["awarded"])] for r in score["rules"]]
    assert section.get_by_role("rowheader", name="Score", exact=True).is_visible()

    detail = decision["detail"]
    sentence = figure(page, "assignment", "#assignment")
    assert sentence.startswith(f"Assigned to {REP_NAMES[detail['rep']]} ({detail['rep']})")
    method = detail["method"].replace("_", " ")
    assert f"by rule {detail['rule']} (method {method})" in sentence
    assert sentence.endswith(f"{detail['reason']}.")
    skipped = page.locator("#skipped li").all_inner_texts()
    assert skipped == [
        f"{REP_NAMES[s['rep']]} ({s['rep']}) — {s['reason']}" for s in detail["skipped"]
    ]
    assert "not available yet" not in page.inner_text("#score") + page.inner_text("#assignment")
    shoot(page, "lead")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls
    shoot(page, "lead-phone")

    # A lead its owner had from the start: scored, never routed.
    owned = next(
        s["lead_id"]
        for s in site.api(ADMIN, "/leads", owner="maya", limit=1000)
        if site.api(ADMIN, f"/leads/{s['lead_id']}")["assignment"] is None
    )
    page.goto(f"{site.base}/leads/{owned}")
    text = page.inner_text("#assignment")
    assert f"Owner set by the CRM: {REP_NAMES['maya']} owned the lead when it became an MQL" in (
        text
    )
    assert "not available yet" not in text
    assert page.locator("#score-rules tbody tr").count() == len(score["rules"])
    page.close()


def test_lead_page_says_which_grade_is_current_and_uses_one_zone(browser: Any, site: Site) -> None:
    # A trigger lead: the CRM set its grade when it became an MQL; its score has decayed since.
    # (Any status: the demo's history works its A leads within minutes or hours.)
    graded = None
    for summary in site.api(ADMIN, "/leads", limit=1000):
        lead = site.api(ADMIN, f"/leads/{summary['lead_id']}")
        if lead["fields"].get("grade"):
            score = site.api(ADMIN, f"/leads/{summary['lead_id']}/score")
            graded = (lead, score)
            if score["grade"] != lead["grade"]:
                break
    assert graded is not None, "the demo has no lead with a grade from the CRM"
    lead, score = graded
    page = logged_in(browser, site, ADMIN)
    page.goto(f"{site.base}/leads/{lead['lead_id']}")
    assert figure(page, "grade") == lead["grade"]
    source = figure(page, "grade-source")
    assert source.startswith("from the CRM's grade field, which wins over the score")
    summary = figure(page, "score-summary", "#score")
    if score["grade"] != lead["grade"]:
        assert f"(the score alone gives {score['grade']})" in source
        assert f"the current grade is {lead['grade']}, from the CRM's grade field" in summary
    else:
        assert "the current grade is" not in summary
    # The admin reads every instant in the default calendar's zone (New York), the
    # clocks of a London or San Francisco rep included.
    assert figure(page, "zone").startswith("Times in America/New_York (")
    offsets = set(re.findall(r"\(UTC([+-]\d\d:\d\d)\)", page.inner_text("main")))
    assert offsets and offsets <= {"-05:00", "-04:00"}
    page.close()


def test_a_rep_sees_only_their_leads(browser: Any, site: Site) -> None:
    page = logged_in(browser, site, MAYA)
    assert "Reports are for managers" in page.inner_text("main")
    page.goto(f"{site.base}/at-risk")
    owners = set(
        page.locator("#at-risk td[data-owner]").evaluate_all("els => els.map(e => e.dataset.owner)")
    )
    assert owners <= {"maya"}
    assert set(page.locator("#at-risk td[data-owner]").all_inner_texts()) <= {REP_NAMES["maya"]}
    sams = site.api(SAM, "/leads", owner="sam", limit=1)
    other = sams[0]["lead_id"]
    # Another rep's lead answers as a missing one: a rep does not learn which ids exist.
    assert site.status(MAYA, f"/leads/{other}") == 404
    response = page.goto(f"{site.base}/leads/{other}")
    assert response.status == 404
    assert page.get_by_role("alert").inner_text() == f"There is no lead '{other}'."
    shoot(page, "forbidden")
    assert page.goto(f"{site.base}/leads/NOPE").status == 404
    page.close()


def test_manager_scorecards_are_the_apis(browser: Any, site: Site) -> None:
    page = logged_in(browser, site, MANAGER)
    page.get_by_role("link", name="Reps and teams").click()
    for period in ("month", "quarter"):
        if period == "quarter":
            page.get_by_label("Period").select_option("quarter")
            page.get_by_role("button", name="Show").click()
            page.wait_for_url(re.compile(r"period=quarter"))
        report = site.api(MANAGER, "/report", period=period)
        assert report["period"]["label"] in page.inner_text("main")
        reps = page.locator("#reps tbody tr").evaluate_all("r => r.map(x => x.dataset.rep)")
        assert set(reps) == set(report["by_owner"]) == {"maya", "sam", "priya", "jonah", "ella"}
        for rep, figures in report["by_owner"].items():
            row = f"#reps tr[data-rep='{rep}']"
            assert figure(page, "compliance", row) == ratio(figures["compliance"]["follow_up"])
            mtd = report["workable_leads_per_rep_month_to_date"].get(rep, 0)
            assert figure(page, "workable-mtd", row).split(" / ")[0] == str(mtd)
        shoot(page, f"reps-{period}")

    # The segments of the manager's marketing page: their team's leads, as the API's.
    page.get_by_role("link", name="Marketing").click()
    mine = site.api(MANAGER, "/segments", by="source,grade")
    everyone = site.api(ADMIN, "/segments", by="source,grade")
    shown = page.locator("#segments tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.segment,"
        " r.querySelector('[data-figure=leads]').innerText])"
    )
    assert shown == [
        [f"{s['segment']['source']}|{s['segment']['grade'] or ''}", f"{s['leads']:,}"]
        for s in mine["segments"]
    ]
    total = sum(s["leads"] for s in mine["segments"])
    assert 0 < total < sum(s["leads"] for s in everyone["segments"])
    assert mine["capacity"]["reps"] == 5  # the east team's reps
    page.close()


def test_marketing_and_settings(browser: Any, site: Site) -> None:
    page = logged_in(browser, site, ADMIN)
    page.get_by_role("link", name="Marketing").click()
    report = site.api(ADMIN, "/report")
    counts = page.locator("#commitments [data-figure='count']").all_inner_texts()
    assert len(counts) == len(report["commitments"])
    assert counts[0] == f"{report['commitments'][0]['count']:,}"
    assert "not available yet" not in page.inner_text("main")

    waterfall = report["waterfall"]["overall"]
    stages = page.locator("#waterfall tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.stage, r.querySelector('[data-figure=count]').innerText,"
        " r.querySelector('[data-figure=conversion]').innerText])"
    )
    before = {"mqls": "inquiry_to_mql", "sals": "mql_to_sal",
              "opportunities": "sal_to_opportunity", "won": "opportunity_to_won"}  # fmt: skip
    assert stages == [
        [key, f"{waterfall[key]:,}", ratio(waterfall[before[key]]) if key in before else "—"]
        for key in ("inquiries", "mqls", "sals", "opportunities", "won")
    ]
    assert figure(page, "never-touched") == f"{waterfall['never_touched']:,}"
    assert figure(page, "win-rate") == ratio(waterfall["win_rate"])

    buckets = page.locator("#speed-to-lead tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.bucket].concat(['leads', 'opportunities', 'conversion',"
        " 'interval'].map(f => r.querySelector(`[data-figure=${f}]`).innerText)))"
    )
    assert buckets == [
        [b["bucket"], f"{b['leads']:,}", f"{b['opportunities']:,}", ratio(b["conversion"]),
         band(b["conversion_low"], b["conversion_high"])]
        for b in report["speed_to_lead"]["buckets"]
    ]  # fmt: skip
    assert sum(b["leads"] for b in report["speed_to_lead"]["buckets"]) == waterfall["mqls"] > 0

    legs = report["speed_legs"]
    shown = page.locator("#speed-legs tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.leg].concat(['leads', 'business-p50', 'business-p90',"
        " 'wall-p50', 'wall-p90'].map(f => r.querySelector(`[data-figure=${f}]`).innerText)))"
    )
    assert shown == [
        [leg["leg"], f"{legs['overall'][leg['leg']]['leads']:,}"]
        + [hours(legs["overall"][leg["leg"]][f"{clock}_{q}_hours"])
           for clock in ("business", "wall") for q in ("p50", "p90")]
        for leg in legs["legs"]
    ]  # fmt: skip
    assert legs["overall"]["rep"]["leads"] > 0
    assert page.locator("svg[aria-labelledby='legs-chart-t legs-chart-d'] rect").count() > 0
    decay = report["touch_decay"]
    chart = page.locator("#touch-decay-chart svg")
    assert chart.is_visible() and chart.bounding_box()["height"] > 100
    fitted = [p for p in decay["points"] if p["fit"] is not None]
    line = chart.locator("polyline.fit").get_attribute("points") or ""
    assert len(line.split()) == len(fitted) > 1
    assert chart.locator("polygon.band").count() == 1
    assert chart.locator("circle").count() == len(fitted)
    assert figure(page, "loss-per-hour") == ratio(decay["loss_per_hour"])
    assert figure(page, "loss-interval") == band(
        decay["loss_per_hour_low"], decay["loss_per_hour_high"]
    )

    segments = site.api(ADMIN, "/segments", by="source,grade")
    rows = page.locator("#segments tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.segment].concat(['leads', 'conversion', 'win-rate',"
        " 'profit-per-lead', 'profit-interval', 'workable']"
        ".map(f => r.querySelector(`[data-figure=${f}]`).innerText)))"
    )
    assert rows == [
        [f"{s['segment']['source']}|{s['segment']['grade'] or ''}", f"{s['leads']:,}",
         f"{ratio(s['conversion'])} ({band(s['conversion_low'], s['conversion_high'])})",
         f"{ratio(s['win_rate'])} ({band(s['win_rate_low'], s['win_rate_high'])})",
         money(s["profit_per_lead"]),
         f"{money(s['profit_per_lead_low'])} to {money(s['profit_per_lead_high'])}",
         "yes" if s["workable"] else "no"]
        for s in segments["segments"]
    ]  # fmt: skip
    assert {s["segment"]["source"] for s in segments["segments"]} >= {"webinar", "event"}
    assert segments["currency"] == "USD"  # the demo's costs section
    assert figure(page, "workable-per-rep") == number(
        segments["capacity"]["workable_leads_per_rep_per_month"]
    )
    shoot(page, "marketing")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the tables scroll
    shoot(page, "marketing-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Settings").click()
    text = page.inner_text("main")
    assert "A leads: within 4 business hours." in text
    assert "Step 2: 48 hours after the start, notify owner and manager." in text
    first_open = page.locator("ul.next-open[data-calendar='new-york'] li").first.inner_text()
    assert first_open == "Wed 4 Mar 2026 10:30 (UTC-05:00) to 12:00"
    shoot(page, "settings")
    page.close()


def test_keyboard_reaches_the_navigation(browser: Any, site: Site) -> None:
    page = logged_in(browser, site, ADMIN)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "/overview"
    page.close()


def test_a_rep_sees_the_menu_and_rosters_a_rep_can_use(browser: Any, site: Site) -> None:
    page = logged_in(browser, site, MAYA)
    links = page.locator("header nav a").all_inner_texts()
    assert links == ["Overview", "At risk", "Settings"]
    # The token's name already says "rep": the header does not repeat the role.
    assert page.locator("header .who span").inner_text() == MAYA
    page.get_by_role("link", name="Settings").click()
    teams = page.locator("#teams tbody th").all_inner_texts()
    assert teams == ["east"]
    page.close()
    admin = logged_in(browser, site, ADMIN)
    assert admin.locator("header nav a").all_inner_texts() == [
        "Overview", "At risk", "Reps and teams", "Marketing", "Settings",
    ]  # fmt: skip
    assert admin.locator("header .who span").inner_text() == ADMIN
    admin.get_by_role("link", name="Settings").click()
    assert len(admin.locator("#teams tbody th").all_inner_texts()) == len(
        {rep.team for rep in demo_company().reps}
    )
    admin.close()


def test_pages_log_no_console_errors(browser: Any, site: Site) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda note: errors.append(note.text) if note.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{site.base}/login")
    page.get_by_label("API token").fill(site.tokens[ADMIN])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/overview$"))
    lead = site.api(ADMIN, "/leads", limit=1)[0]["lead_id"]
    for path in ("/at-risk", f"/leads/{lead}", "/reps", "/marketing", "/settings"):
        page.goto(f"{site.base}{path}", wait_until="networkidle")
    page.wait_for_timeout(300)
    assert errors == []
    icon = httpx.get(f"{site.base}/favicon.ico", timeout=10)
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    page.close()


def test_api_reference_works_offline(browser: Any, site: Site) -> None:
    page = browser.new_page()
    elsewhere: list[str] = []

    def only_this_server(route: Any) -> None:
        if route.request.url.startswith(site.base):
            route.continue_()
        else:  # what a server without internet access would see: nothing answers
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{site.base}/api/v1/docs")
    page.locator(".opblock").first.wait_for(timeout=15_000)
    assert elsewhere == []
    assert page.locator(".opblock").count() >= 5
    summaries = page.locator(".opblock-summary").all_inner_texts()
    assert any("/api/v1/events" in text for text in summaries)
    page.close()


def test_breached_queue_lists_the_overviews_overdue_leads(browser: Any, site: Site) -> None:
    page = logged_in(browser, site, ADMIN)
    overdue = int(figure(page, "overdue").rstrip("+").replace(",", ""))
    page.locator("[data-figure='overdue'] ~ .sub").get_by_role("link", name="See them").click()
    page.wait_for_url(re.compile(r"/breached$"))
    expected = site.api(ADMIN, "/leads", status="New", breached="true", limit=1000)
    shown = page.locator("#breached tbody tr").evaluate_all("rows => rows.map(r => r.dataset.lead)")
    assert len(shown) == overdue == len(expected) > 0
    assert set(shown) == {lead["lead_id"] for lead in expected}
    overdue_seconds = page.locator("#breached td[data-overdue]").evaluate_all(
        "els => els.map(e => Number(e.dataset.overdue))"
    )
    assert overdue_seconds == sorted(overdue_seconds, reverse=True)  # longest overdue first
    by_id = {lead["lead_id"]: lead for lead in expected}
    names = page.locator("#breached tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.lead, r.querySelector('[data-owner]').innerText])"
    )
    assert all(name == REP_NAMES.get(by_id[lead]["owner"], "") for lead, name in names)
    page.get_by_label("Grade").select_option("A")
    page.get_by_role("button", name="Filter").click()
    a_leads = site.api(ADMIN, "/leads", status="New", breached="true", grade="A", limit=1000)
    assert page.locator("#breached tbody tr").count() == len(a_leads)

    # On a phone each lead is a card: every column labelled, nothing off-screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    policy = page.locator("#breached tbody tr").first.locator("td[data-label='Policy']")
    assert policy.is_visible()
    assert (
        page.evaluate("el => getComputedStyle(el, '::before').content", policy.element_handle())
        == '"Policy: "'
    )
    page.close()


def test_a_manager_sees_the_teams_share_or_the_company_figure(browser: Any, site: Site) -> None:
    company = {c["name"]: c for c in site.api(ADMIN, "/report")["commitments"]}
    team = {c["name"]: c for c in site.api(MANAGER, "/report")["commitments"]}
    config = load_config(site.config)
    shares = {c.name: (c.team_targets or {}).get("east") for c in config.commitments}
    assert shares["MQLs per quarter"] and shares["Healthcare MQLs per month"] is None
    page = logged_in(browser, site, MANAGER)
    sections = page.locator("main h3").all_inner_texts()
    labels = page.locator("[data-figure='commitment-scope']").all_inner_texts()
    named = [s.split(" (")[0] for s in sections if not s.startswith("Burn-up")]
    assert named == list(company)
    scope = dict(zip(named, labels, strict=True))
    quarter = scope["MQLs per quarter"]
    assert quarter.startswith("Team east: the team's count against its share of the target")
    assert f"({round(shares['MQLs per quarter']):,})" in quarter
    assert scope["Healthcare MQLs per month"].startswith("Company-wide figure")
    # The team's count against its share; the company's count against the company's target.
    texts = page.locator("main h3 + p + figure + p").all_inner_texts()
    by_name = dict(zip(named, texts, strict=True))
    assert (
        by_name["MQLs per quarter"]
        .split(": ", 1)[1]
        .startswith(f"{team['MQLs per quarter']['count']:,} so far")
    )
    healthcare = company["Healthcare MQLs per month"]
    assert (
        by_name["Healthcare MQLs per month"]
        .split(": ", 1)[1]
        .startswith(f"{healthcare['count']:,} so far")
    )
    page.close()


# What each role's menu holds (SPEC §6: a rep has no Reps or Marketing page).
MENUS = {
    ADMIN: ["Overview", "At risk", "Reps and teams", "Marketing", "Settings"],
    MANAGER: ["Overview", "At risk", "Reps and teams", "Marketing", "Settings"],
    MAYA: ["Overview", "At risk", "Settings"],
}
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("login", [ADMIN, MANAGER, MAYA], ids=["admin", "manager", "rep"])
def test_each_role_reads_its_queues_on_a_desktop_and_a_phone(
    browser: Any, site: Site, login: str, size: str
) -> None:
    """The issue's points for every role and screen: the menu a role can use, the name
    once in the header, the at-risk queue of the caller's scope with names for owners,
    one zone with the lead's local time on hover, and on a phone stacked cards with
    every column on screen."""
    width, height = SIZES[size]
    page = logged_in(browser, site, login, width=width)
    page.set_viewport_size({"width": width, "height": height})
    menu = page.locator("header nav a")
    assert menu.all_inner_texts() == MENUS[login]
    assert all(menu.nth(i).is_visible() for i in range(menu.count()))
    assert page.locator("header .who span").inner_text() == login
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll

    page.get_by_role("navigation", name="Main").get_by_role("link", name="At risk").click()
    page.wait_for_url(re.compile(r"/at-risk$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    expected = {lead["lead_id"]: lead for lead in site.api(login, "/leads", at_risk_hours=8)}
    rows = page.locator("#at-risk tbody tr")
    shown = rows.evaluate_all("rows => rows.map(r => r.dataset.lead)")
    assert set(shown) == set(expected) and shown
    if login == MAYA:
        assert {lead["owner"] for lead in expected.values()} == {"maya"}
    owners = page.locator("#at-risk td[data-owner]").evaluate_all(
        "els => els.map(e => [e.closest('tr').dataset.lead, e.innerText])"
    )
    assert all(name == REP_NAMES[expected[lead]["owner"]] for lead, name in owners)
    # Every due time in the viewer's zone (the demo's east team and admin: New York) ...
    caption = page.locator("#at-risk caption").inner_text()
    assert "Times in America/New_York (EST)" in caption
    due = page.locator("#at-risk td[data-label='Due'] time")
    offsets = set(re.findall(r"\(UTC([+-]\d\d:\d\d)\)", " ".join(due.all_inner_texts())))
    assert offsets == {"-05:00"}
    # ... and the lead's own calendar's time on hover: the admin's queue holds London
    # and San Francisco reps' leads too.
    hovers = due.evaluate_all("els => els.map(e => e.title)")
    assert all(h.startswith("Lead's local time: ") for h in hovers)
    local = set(re.findall(r"\(UTC([+-]\d\d:\d\d)\)", " ".join(hovers)))
    assert local >= {"-05:00"}
    if login == ADMIN:
        assert len(local) > 1

    first = rows.first
    for label in ("Policy", "Escalation step"):
        cell = first.locator(f"td[data-label='{label}']")
        assert cell.is_visible()
        box = cell.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        before = page.evaluate(
            "el => getComputedStyle(el, '::before').content", cell.element_handle()
        )
        # A phone shows each lead as a card, every value after its column's name.
        assert before == (f'"{label}: "' if size == "phone" else "none")
    if size == "phone":
        heads = page.locator("#at-risk thead").bounding_box()
        assert heads is not None and heads["width"] <= 1  # the header row is for readers only
        if login == ADMIN:
            shoot(page, "at-risk-phone")
    page.close()
