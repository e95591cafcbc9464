"""The reading room clicked through in headless Chromium: list -> viewer -> draft -> review -> save -> export.

Every check reads the page the way a person would (the DOM after JavaScript ran) and compares it
with an independent source: the study list with the build's manifest, the SUV readout with the
cached PET array read directly with numpy, the exported expert files with the official format
and with `vipet evaluate --expert`. Screenshots are written beside the test's temporary files, and
also to $VIPET_SERVE_SCREENSHOTS when set (how docs/images/serve_*.png were made).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from pathlib import Path

import pytest

from serve_support import N_STUDIES, LiveServer, make_config
from vipet.data.cache import open_array

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="browser tests need Debian's chromium and chromium-driver (installed by .ci/run)")


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="browser tests need selenium")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def live(serve_build, tmp_path_factory):
    from vipet.serve.app import create_app

    tmp = tmp_path_factory.mktemp("serve_live")
    app = create_app(make_config(serve_build, tmp))
    server = LiveServer(app).start()
    yield server, app.state.serve, tmp
    server.stop()


def wait(driver, condition, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def shot(driver, tmp: Path, name: str) -> Path:
    path = tmp / name
    driver.save_screenshot(str(path))
    if os.environ.get("VIPET_SERVE_SCREENSHOTS"):
        target = Path(os.environ["VIPET_SERVE_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / name)
    return path


def thorax_study(state) -> str:
    """A test-split study whose reference states thoracic lesions (so the lesion table is not empty)."""
    from vipet.reports.extract import extract_lesions

    for entry in sorted(state.catalog.entries.values(), key=lambda e: (e.split != "test", e.key)):
        if extract_lesions(entry.report_text, scope="thorax"):
            return entry.key
    pytest.fail("the synthetic cohort has no study with thoracic lesions")


def test_list_viewer_draft_review_save_export(browser, live, serve_build):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    server, state, tmp = live
    driver = browser
    # List: every study of the build, then a search that narrows it.
    driver.get(server.url + "/studies")
    links = driver.find_elements(By.CSS_SELECTOR, "a.study-link")
    assert len(links) == N_STUDIES
    year = sorted(state.catalog.years())[0]
    Select(driver.find_element(By.ID, "search-year")).select_by_value(year)
    driver.find_element(By.ID, "search-go").click()
    wait(driver, lambda d: "year=" + year in d.current_url)
    shown = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.study-link")]
    assert shown == sorted(k for k, e in state.catalog.entries.items() if str(e.year) == year)

    # Viewer: slider changes the picture; a click reads the SUV the cache holds at that voxel.
    key = thorax_study(state)
    driver.get(server.url + "/studies")
    driver.find_element(By.LINK_TEXT, key).click()
    wait(driver, lambda d: d.find_element(By.ID, "viewer").get_attribute("data-ready") == "yes")
    plane = driver.find_element(By.ID, "plane")
    wait(driver, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", plane))
    before_src, before_index = plane.get_attribute("src"), int(plane.get_attribute("data-index"))
    slider = driver.find_element(By.ID, "slice")
    for _ in range(6):
        slider.send_keys(Keys.ARROW_UP)
    wait(driver, lambda d: plane.get_attribute("src") != before_src)
    after_index = int(plane.get_attribute("data-index"))
    assert after_index == before_index + 6 == int(slider.get_attribute("value"))
    pictures = [urllib.request.urlopen(src, timeout=10).read() for src in (before_src, plane.get_attribute("src"))]
    assert pictures[0][:8] == b"\x89PNG\r\n\x1a\n" and pictures[0] != pictures[1]
    assert driver.find_elements(By.CSS_SELECTOR, "#mip-frame .region-line")  # region boundaries drawn on the MIP
    plane.click()  # the centre of the axial slice
    readout = driver.find_element(By.ID, "suv-readout")
    wait(driver, lambda d: readout.text.startswith("SUV "))
    match = re.match(r"SUV (\d+\.\d\d) · CT (-?\d+) HU at \(z (\d+), y (\d+), x (\d+)\)", readout.text)
    assert match, readout.text
    z, y, x = (int(v) for v in match.groups()[2:])
    assert z == after_index
    pet = open_array(serve_build / "cache" / key / "pet.b2nd")
    ct = open_array(serve_build / "cache" / key / "ct.b2nd")
    assert float(match.group(1)) == pytest.approx(float(pet[z, y, x]), abs=0.006)
    assert int(match.group(2)) == int(ct[z, y, x])
    Select(driver.find_element(By.ID, "window")).select_by_value("lung")
    wait(driver, lambda d: "window=lung" in plane.get_attribute("src"))
    driver.find_element(By.CSS_SELECTOR, 'input[name="plane"][value="coronal"]').click()
    wait(driver, lambda d: "/plane/coronal/" in plane.get_attribute("src"))
    assert driver.find_elements(By.CSS_SELECTOR, "#plane-frame .region-line")
    wait(driver, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", plane))
    driver.execute_script("arguments[0].textContent = '-'", readout)
    plane.click()
    wait(driver, lambda d: readout.text.startswith("SUV "))
    coronal = re.search(r"\(z (\d+), y (\d+), x (\d+)\)", readout.text)
    assert int(coronal.group(2)) == int(slider.get_attribute("value"))  # the coronal slice is a y index
    driver.execute_script("window.scrollTo(0, 0)")
    shot(driver, tmp, "serve_viewer.png")

    # Draft: the template report beside the reference, lesions marked by the clinical matcher.
    driver.find_element(By.ID, "draft-go").click()
    wait(driver, lambda d: d.find_element(By.ID, "viewer").get_attribute("data-drafted") == "yes", timeout=60)
    statuses = [row.get_attribute("data-status") for row in driver.find_elements(By.CSS_SELECTOR, "#draft-lesions tbody tr")]
    from vipet.serve.drafting import compare_lesions

    draft_text = state.drafts[key]["text"]
    expected = compare_lesions(draft_text, state.catalog.entry(key).report_text)
    assert statuses == [m.status for m in expected["draft"]] + [m.status for m in expected["reference"]]
    assert "missed" in statuses  # the normal template misses the study's thoracic lesions

    # Ask: a suggested question, answered by the majority-answer baseline (the template writes no answers).
    suggestion = driver.find_elements(By.CSS_SELECTOR, "#suggestions .suggestion")[0]
    suggestion.click()
    assert driver.find_element(By.ID, "question").get_attribute("value") == suggestion.get_attribute("data-question")
    driver.find_element(By.ID, "ask-go").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#chat p.a[data-answer]"))
    answer = driver.find_element(By.CSS_SELECTOR, "#chat p.a").get_attribute("data-answer")
    assert answer == state.drafter.answer(key, suggestion.get_attribute("data-question"))
    assert driver.find_element(By.CSS_SELECTOR, "#chat p.a").text.endswith("(majority-vqa)")

    # Review: sign in, add the draft to the worklist, edit lesions and label sentences, save.
    driver.get(server.url + "/login")
    driver.find_element(By.ID, "login-name").send_keys("Dr Lan")
    driver.find_element(By.ID, "login-go").click()
    wait(driver, lambda d: d.current_url.endswith("/review"))
    driver.get(server.url + "/study/" + key)
    wait(driver, lambda d: d.find_element(By.ID, "viewer").get_attribute("data-ready") == "yes")
    driver.find_element(By.ID, "draft-go").click()
    wait(driver, lambda d: d.find_element(By.ID, "viewer").get_attribute("data-drafted") == "yes", timeout=60)
    driver.find_element(By.ID, "to-review").click()
    wait(driver, lambda d: d.find_elements(By.ID, "review-link"))
    driver.find_element(By.ID, "review-link").click()
    wait(driver, lambda d: d.find_elements(By.ID, "lesion-table"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#lesion-table tbody tr")
    assert rows  # prefilled from the reference report
    first_cells = rows[0].find_elements(By.CSS_SELECTOR, "input.cell")
    first_cells[3].clear()
    first_cells[3].send_keys("7,4")  # SUVmax with the decimal comma of the reports
    driver.find_element(By.ID, "add-lesion").click()
    new_cells = driver.find_elements(By.CSS_SELECTOR, "#lesion-table tbody tr")[-1].find_elements(By.CSS_SELECTOR, "input.cell")
    for cell, text in zip(new_cells, ["12 mm", "Hình ảnh nốt mờ", "thùy trên phổi trái", "3", "Tăng", "Không có", "Nghi ngờ ác tính"]):
        cell.clear()
        cell.send_keys(text)
    sentence_rows = driver.find_elements(By.CSS_SELECTOR, "#sentence-table tr")
    assert len(sentence_rows) >= 2
    Select(sentence_rows[0].find_element(By.CSS_SELECTOR, "select.label")).select_by_value("correct")
    Select(sentence_rows[1].find_element(By.CSS_SELECTOR, "select.label")).select_by_value("significant")
    Select(sentence_rows[1].find_element(By.CSS_SELECTOR, "select.category")).select_by_value("missed_finding")
    driver.find_element(By.ID, "save-review").click()
    status = driver.find_element(By.ID, "save-status")
    wait(driver, lambda d: status.text.startswith("saved revision 1"))
    shot(driver, tmp, "serve_review.png")
    item_id = driver.find_element(By.ID, "review").get_attribute("data-item")
    saved = state.store.latest(item_id, "Dr Lan")
    assert saved.revision == 1 and len(saved.lesions) == len(rows) + 1
    assert [(s.index, s.label, s.category) for s in saved.sentences] == [(0, "correct", None), (1, "significant", "missed_finding")]

    # Export: official expert JSON (checked against the format and `vipet evaluate --expert`).
    driver.get(server.url + "/review")
    driver.find_element(By.ID, "export-go").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "a.export-file"))
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "a.export-file")]
    expert_files = [n for n in names if n.endswith(".json")]
    assert len(expert_files) == 1 and any(n.endswith("sentence_labels.csv") for n in names)
    exported = state.export_dir / expert_files[0]
    lesions = json.loads(exported.read_text(encoding="utf-8"))
    check_expert_format(lesions)
    assert lesions[0]["Mức độ FDG"]["SUVmax"] == 7.4 and lesions[-1]["Vị trí của khối u, tổn thương, bất thường"] == "thùy trên phổi trái"
    # A draft that states the lesion the reviewer added: evaluate must match it against the exported file.
    prediction = draft_text + " Hình ảnh nốt mờ thùy trên phổi trái, kích thước 12 mm, tăng chuyển hóa FDG (SUVmax: 3,0)."
    evaluate_with_expert(exported.parent, key, prediction, state.catalog.entry(key).report_text, saved.lesions, tmp)


def check_expert_format(lesions) -> None:
    """The official files' structure: a list of objects with exactly the six expert keys and the two FDG keys."""
    from vipet.schema import FDG_KEY, INVASION_KEY, LOCATION_KEY, SIZE_KEY, STAGE_KEY, SUVMAX_KEY, TYPE_KEY, UPTAKE_KEY

    assert isinstance(lesions, list) and lesions
    for lesion in lesions:
        assert list(lesion) == [SIZE_KEY, TYPE_KEY, LOCATION_KEY, FDG_KEY, INVASION_KEY, STAGE_KEY]
        assert list(lesion[FDG_KEY]) == [SUVMAX_KEY, UPTAKE_KEY]
        assert all(isinstance(lesion[k], str) for k in (SIZE_KEY, TYPE_KEY, LOCATION_KEY, INVASION_KEY, STAGE_KEY))
        assert isinstance(lesion[FDG_KEY][SUVMAX_KEY], (int, float, str))


def evaluate_with_expert(expert_dir: Path, key: str, prediction: str, reference: str, stored: list, tmp: Path) -> None:
    """`vipet evaluate --expert` on the exported folder scores exactly what the store holds."""
    from typer.testing import CliRunner

    from vipet.cli import app

    preds = tmp / "preds.jsonl"
    preds.write_text(json.dumps({"id": f"{key}:whole", "task": "report", "prediction": prediction,
                                 "reference": reference, "model": "template"}, ensure_ascii=False) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["evaluate", str(preds), "--expert", str(expert_dir), "--bootstrap", "0", "--json"])
    assert result.exit_code == 0, result.output
    clinical = json.loads(result.stdout)["results"]["template"]["report"]["clinical"]
    assert clinical["reference"] == "expert" and clinical["n_without_expert"] == 0
    from vipet.eval.clinical import clinical_f1
    from vipet.reports.extract import extract_lesions
    from vipet.schema import Lesion

    expected = clinical_f1([extract_lesions(prediction, scope="thorax")], [[Lesion.from_expert(x) for x in stored]])
    for name in ("F1-T", "F1-TP", "F1-TF", "F1-TPF"):
        assert clinical["counts"][name] == {k: expected[name][k] for k in ("correct", "n_pred", "n_ref")}
        assert clinical["scores"][name]["value"] == pytest.approx(expected[name]["f1"])
    assert clinical["counts"]["F1-T"]["correct"] >= 1  # the added nodule is found in the exported list
