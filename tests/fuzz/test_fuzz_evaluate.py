"""`vipet evaluate` on generated predictions files (issue 19): JSONL or a JSON list of records with
any keys and value types gives metrics or one error line naming the file. 150 inputs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fuzzkit import assert_clean, count, fuzz_settings, invoke
from hypothesis import given
from hypothesis import strategies as st

TEXT = st.one_of(st.sampled_from(["Nốt mờ phổi phải 9 mm (SUVmax: 5,2).", "Không phát hiện bất thường.", "có", "không",
                                  ""]), st.text(max_size=30))
VALUE = st.one_of(TEXT, st.none(), st.integers(), st.floats(), st.booleans(), st.lists(TEXT, max_size=2),
                  st.dictionaries(st.text(max_size=4), TEXT, max_size=2))
RECORD = st.fixed_dictionaries(
    {"id": st.one_of(st.text(max_size=6), st.integers()), "prediction": VALUE, "reference": VALUE},
    optional={"task": st.one_of(st.sampled_from(["report", "vqa", "caption"]), VALUE), "question": VALUE,
              "model": VALUE, "study": VALUE},
)


@fuzz_settings(150, deadline_s=20)
@given(records=st.lists(st.one_of(RECORD, VALUE), max_size=6), as_list=st.booleans(), junk=st.booleans())
def test_any_predictions_file_gives_metrics_or_one_error_line(records, as_list, junk):
    count("evaluate input")
    folder = Path(tempfile.mkdtemp(prefix="vipet-fuzz-"))
    path = folder / "preds.jsonl"
    text = json.dumps(records) if as_list else "\n".join(json.dumps(r) for r in records)
    path.write_text(text + ("\n{not json" if junk else ""), encoding="utf-8")
    result = invoke(["evaluate", path, "--bootstrap", "0", "--out", folder / "metrics.json"])
    assert_clean(result, path)
