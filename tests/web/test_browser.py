"""The whole path in a real browser at a phone's width: Debian's Chromium driven by Playwright against
`sealgate serve` on the demo, as each role uses it.

A resident asks for the subsidy, its three approvers approve on their phones, the sealed PDF downloads, the
bureau opens it from its inbox and /verify finds it TOTAL-PASSED with its approval chain; a paper request is
approved, stamped by `device-sim` through `sealgate terminal`, and its record shows the photos; an inspector sees
an overdue step and an alarm, and a custodian acknowledges the alarm.

With ``SEALGATE_SCREENSHOTS=DIR`` (``make screenshots``) every page is also photographed at 375 px and at desktop
width into DIR.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize, sync_playwright

from bench.machines import physical_request
from bench.ports import free_port
from sealgate.cli import demo
from tests.cli.support import run, serving
from tests.physical_seal.test_end_to_end import MACHINE, PIN, Site, loaded, machine, terminal, until
from tests.workflow import pdfs

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("timed")]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PASSWORDS = {p["username"]: p["password"] for p in demo.dataset()["users"]}
SHOTS = os.environ.get("SEALGATE_SCREENSHOTS")
TIMEOUT_MS = 30_000
REFUSED: list[str] = []  # what Chromium refused under the pages' Content-Security-Policy, in the running test


class PublicSite(Site):
    """A site whose public URL is where it serves, so that what it links to itself (the bureau's hosted inbox,
    QR codes) is reached."""

    @property
    def settings(self) -> dict[str, str]:
        return {"SEALGATE_PORT": str(self.port), "SEALGATE_PUBLIC_URL": self.base}

    @contextmanager
    def serving(self) -> Iterator[str]:
        with serving(self.root, self.root / "serve.log", **self.settings) as base:
            yield base


@pytest.fixture
def site(tmp_path: Path) -> PublicSite:
    """A demo site whose paper matter's first level is due within seconds, so an overdue step can be seen."""
    code = ""
    site = PublicSite(tmp_path, "", free_port())
    for command in (("db", "upgrade"), ("ca", "init", "--if-missing"), ("demo",)):
        done = run(tmp_path, *command, **site.settings)
        assert done.returncode == 0, done.stdout + done.stderr
        for line in done.stdout.splitlines():
            if line.strip().startswith(MACHINE):
                code = line.split()[1]
    exported = run(tmp_path, "catalog", "export", **site.settings)
    catalogue = json.loads(exported.stdout)
    chain = next(m for m in catalogue["matters"] if m["code"] == "civil.labour-agreement")["chain"]
    catalogue["chains"][chain]["levels"][0]["hours"] = 0.001  # 3.6 s
    (tmp_path / "catalog.json").write_text(json.dumps(catalogue, ensure_ascii=False))
    loaded_ = run(tmp_path, "catalog", "load", "catalog.json", **site.settings)
    assert loaded_.returncode == 0, loaded_.stdout + loaded_.stderr
    assert code, "the demo printed no enrolment code"
    site.code = code
    return site


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        REFUSED.clear()
        try:
            yield chromium
        finally:
            chromium.close()
        assert REFUSED == [], "the Content-Security-Policy refused something a page needs"


class Person:
    """One user on their own phone: a browser context of their own, signed in through the sign-in page."""

    def __init__(self, browser: Browser, base: str, username: str) -> None:
        self.browser = browser
        self.base = base
        self.username = username
        self.context: BrowserContext = browser.new_context(
            viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page: Page = self.context.new_page()
        self.page.on("console", _watch_policy)
        self.go("/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORDS[username])
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base}/")

    def bearer(self) -> dict[str, str]:
        """The API's own credential, to read a request's state the way a client would."""
        answer = self.context.request.post(
            f"{self.base}/api/v1/auth/token", form={"username": self.username, "password": PASSWORDS[self.username]}
        )
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def go(self, path: str) -> Page:
        self.page.goto(self.base + path)
        return self.page

    def shot(self, name: str) -> None:
        """The page as it is now, at phone and desktop width (only when screenshots are asked for)."""
        if not SHOTS:
            return
        folder = Path(SHOTS)
        folder.mkdir(parents=True, exist_ok=True)
        _photograph(self.page, folder / f"{name}-phone.png")
        wide = self.browser.new_context(
            viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai", storage_state=self.context.storage_state()
        )
        try:
            page = wide.new_page()
            page.goto(self.page.url)
            _photograph(page, folder / f"{name}-desktop.png")
        finally:
            wide.close()

    def close(self) -> None:
        self.context.close()


def _watch_policy(message: ConsoleMessage) -> None:
    if "Content Security Policy" in message.text:
        REFUSED.append(f"{message.location.get('url')}: {message.text}")


def _photograph(page: Page, path: Path) -> None:
    """The whole page, its header at the top (a sticky header would be drawn where the window stood), in 256
    colours to keep the documentation light."""
    page.eval_on_selector("header.top", "header => { header.style.position = 'static'; }")  # no <style>: CSP
    page.screenshot(path=path, full_page=True)
    with Image.open(path) as shot:
        shot.convert("RGB").quantize(colors=256).save(path, optimize=True)


def approve(browser: Browser, base: str, username: str, rid: int, shot: str | None = None) -> None:
    """An approver finds the request in their inbox on their phone, opens it and approves it."""
    approver = Person(browser, base, username)
    try:
        inbox = approver.go("/inbox")
        inbox.wait_for_selector(f'a[href="/inbox/{rid}"]')
        if shot:
            approver.shot("approver-inbox")
        approver.go(f"/inbox/{rid}")
        if shot:
            approver.shot(shot)
        approver.page.click("button[name=decision][value=approve]")
        approver.page.wait_for_url(re.compile(r".*/inbox(\?.*)?$"))
    finally:
        approver.close()


def state_of(person: Person, rid: int) -> str:
    answer = person.context.request.get(f"{person.base}/api/v1/requests/{rid}", headers=person.bearer())
    state: str = answer.json()["state"]
    return state


def test_a_subsidy_is_asked_approved_sealed_delivered_and_verified_on_phones(
    site: Site, browser: Browser, tmp_path: Path
) -> None:
    with site.serving() as base:
        resident = Person(browser, base, "sn.resident")
        resident.shot("home")
        resident.go("/docs").wait_for_selector(".opblock")  # Swagger UI draws under the same policy
        resident.go("/requests/new")
        resident.shot("new-request")
        form = resident.go("/requests/new?matter=agri.winter-vegetable-subsidy&organisation=yazhou.shuinan")
        form.fill("[name=purpose]", "申请2026年冬季瓜菜种植补贴")
        form.fill("[name='form.phone']", "13876543210")
        form.select_option("[name='form.crop']", "辣椒")
        form.fill("[name='form.cycles']", "2")
        form.fill("[name='form.area']", "3.5")
        form.fill("[name='form.location']", "水南村东洋")
        amount = form.locator("#computed strong").first
        amount.filter(has_text=re.compile(r"[0-9]")).wait_for()  # the subsidy, computed on the server as typed
        resident.shot("request-form")
        form.click("form[action='/requests/new'] button[type=submit]")
        form.wait_for_url(re.compile(r".*/requests/[0-9]+(\?.*)?$"))
        rid = int(re.search(r"/requests/([0-9]+)", form.url).group(1))  # type: ignore[union-attr]
        resident.shot("request")

        approve(browser, base, "sn.g1.leader", rid, shot="approver-decide")
        approve(browser, base, "sn.secretary", rid)
        approve(browser, base, "sn.sealadmin", rid)
        assert until(lambda: state_of(resident, rid) == "completed", 60), state_of(resident, rid)

        page = resident.go(f"/requests/{rid}")
        resident.shot("request-sealed")
        with page.expect_download() as download:
            page.click(f'a[href="/requests/{rid}/document"][download]')
        sealed = tmp_path / "sealed.pdf"
        download.value.save_as(sealed)
        assert sealed.read_bytes().startswith(b"%PDF")

        bureau = Person(browser, base, "yz.agri")
        received = bureau.go("/bureau")
        received.wait_for_selector(f'a[href="/requests/{rid}"]')
        bureau.shot("bureau-inbox")
        received.click(f'a[href="/requests/{rid}"]')
        received.wait_for_url(f"{base}/requests/{rid}")
        bureau.shot("bureau-request")
        check = bureau.go("/verify")
        check.set_input_files("input[name=file]", sealed)
        check.click("form[action^='/verify'] button[type=submit]")
        check.wait_for_selector("section.verdict.is-passed")  # TOTAL-PASSED, in Chinese
        chain = check.locator("ol.timeline li")
        levels = [text for text in chain.all_inner_texts() if "级" in text or "level" in text]
        assert len(levels) >= 3, chain.all_inner_texts()  # the three approvals, read from the log
        bureau.shot("verify-report")
        if SHOTS:
            gallery(browser, base, rid)


# The pages the journeys above do not pass through, photographed for the documentation: (name, user, path).
GALLERY = [
    ("login", None, "/login"),
    ("requests", "sn.resident", "/requests"),
    ("delegations", "sn.secretary", "/delegations"),
    ("machines", "sn.custodian1", "/machines"),
    ("explorer", None, "/explorer"),
    ("explorer-entry", None, "/explorer/entries/1"),
    ("admin", "yz.admin", "/admin"),
    ("admin-organisations", "yz.admin", "/admin/organisations"),
    ("admin-users", "yz.admin", "/admin/users"),
    ("admin-user", "yz.admin", "/admin/users/sn.secretary"),
    ("admin-seals", "yz.certadmin1", "/admin/seals"),
    ("admin-certificates", "yz.certadmin1", "/admin/certificates"),
    ("admin-catalog", "yz.admin", "/admin/catalog"),
    ("admin-machines", "sn.sealadmin", "/admin/machines"),
    ("admin-outbox", "yz.admin", "/admin/outbox"),
]


def gallery(browser: Browser, base: str, rid: int) -> None:
    for name, username, path in [*GALLERY, ("record", "sn.resident", f"record:{rid}")]:
        person = Person(browser, base, username or "sn.resident")
        try:
            if path.startswith("record:"):
                path = person.context.request.get(f"{base}/api/v1/requests/{rid}", headers=person.bearer()).json()[
                    "record"
                ]
                person.context.clear_cookies()  # the public view, as a QR code opens it
            elif username is None:
                person.context.clear_cookies()
            person.go(path)
            person.shot(name)
        finally:
            person.close()


def test_a_paper_request_is_stamped_and_watched_on_phones(site: PublicSite, browser: Browser, tmp_path: Path) -> None:
    agreement = tmp_path / "agreement.pdf"
    agreement.write_bytes(pdfs.clean("劳务协议"))
    with site.serving() as base, machine(site) as (device, port), terminal(site, port, enrol=True) as agent:
        staff = Person(browser, base, "sn.staff")
        form = staff.go("/requests/new?matter=civil.labour-agreement&organisation=yazhou.shuinan")
        form.select_option("[name=seal]", "village_official")
        form.select_option("[name=seal_form]", "physical")
        form.fill("[name=copies]", "1")
        form.fill("[name=purpose]", "聘用保洁员")
        for name, value in physical_request("yazhou.shuinan", 1)["form"].items():
            field = form.locator(f"[name='form.{name}']")
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(str(value))
            else:
                field.fill(str(value))
        form.set_input_files("input[name=document]", agreement)
        form.click("form[action='/requests/new'] button[type=submit]")
        form.wait_for_url(re.compile(r".*/requests/[0-9]+(\?.*)?$"))
        rid = int(re.search(r"/requests/([0-9]+)", form.url).group(1))  # type: ignore[union-attr]

        inspector = Person(browser, base, "yz.inspector")  # the first level is due within seconds
        assert until(lambda: f"/requests/{rid}" in inspector.go("/supervision").content(), 30)
        inspector.shot("supervision")

        approve(browser, base, "sn.secretary", rid)
        approve(browser, base, "sn.sealadmin", rid)
        assert until(lambda: state_of(staff, rid) == "authorised", 60), state_of(staff, rid)
        sheet = tmp_path / "sheet.pdf"
        sheet.write_bytes(staff.context.request.get(f"{base}/requests/{rid}/sheet").body())
        held = loaded(agent)
        assert agent(f"login sn.custodian1 {PIN}")["ok"]
        assert agent(f"stamp {held} {sheet}")["ok"]
        assert until(lambda: agent("sync")["pending"] == 0 and state_of(staff, rid) == "completed", 60)

        record = staff.go(f"/requests/{rid}")
        photo = record.locator("img[src*='/photos/']").first
        photo.wait_for()
        assert record.evaluate("img => img.complete && img.naturalWidth > 0", photo.element_handle())
        staff.shot("request-stamped")

        device.send_signal(signal.SIGUSR1)  # someone opens the machine's case
        alarms = "h2#alarms + ul.list li"
        assert until(lambda: agent("sync")["pending"] == 0 and inspector.go("/supervision").locator(alarms).count(), 60)
        custodian = Person(browser, base, "sn.custodian1")
        page = custodian.go(f"/machines/{MACHINE}")
        custodian.shot("machine")
        page.fill("form[action^='/alarms/'] textarea[name=comment]", "已检查机箱，封条完好，系巡检时误开")
        page.click("form[action^='/alarms/'] button[type=submit]")
        page.wait_for_url(re.compile(rf".*/machines/{MACHINE}.*"))
        assert page.locator("form[action^='/alarms/']").count() == 0
        assert inspector.go("/supervision").locator(alarms).count() == 0
