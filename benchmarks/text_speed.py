"""Time per MB of report text for `report parse`, `report extract` and `vqa` (issue 19).

One report file of 0.25, 0.5, 1 and 2 MB is made by cycling the real reports
(`../shared/data/real/reports.jsonl`, or --reports; a built-in set of templated sentences when
absent), one report per line, and each tool reads it through the same functions as the command
(`load_report`, then `extract_lesions` or `generate_vqa`), sentence caches cleared before each run.
For each size it prints seconds, seconds per MB and the ratio to the previous size: a linear
tool doubles (ratio ~2), a quadratic one quadruples. Before issue 19's fix, 0.5 MB of
concatenated reports did not finish `report extract` in 100 s and 80,000 line breaks took 65 s;
the target is `report extract` on 2 MB in under 5 s.

Load: single process, one core; state the machine's other load beside the numbers.

    .venv/bin/python benchmarks/text_speed.py [--sizes 0.25,0.5,1,2] [--lines]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vipet.reports import sections as sections_module  # noqa: E402
from vipet.reports import sentences as sentence_module  # noqa: E402
from vipet.reports.extract import extract_lesions  # noqa: E402
from vipet.reports.parse import load_report  # noqa: E402
from vipet.reports.segment import split_sentences  # noqa: E402
from vipet.reports.vqa import generate_vqa  # noqa: E402

FALLBACK = [
    "Hình ảnh bắt xạ theo đặc điểm sinh lý ở não.",
    "Hình ảnh hạch trung thất cạnh khí quản phải (nhóm 4R), kích thước 12 x 10 mm, tăng chuyển hóa FDG (SUVmax: 4,2).",
    "Nốt mờ thùy trên phổi phải, đường kính 9 mm, không tăng chuyển hóa FDG.",
    "Khối mờ phổi trái (so với lần chụp trước kích thước lớn hơn), tăng chuyển hoá FDG (SUVmax: 12,4).",
    "Không phát hiện tràn dịch màng phổi hai bên. Khối mờ phổi trái nhiều khả năng ác tính.",
]


def corpus(path: Path, one_sentence_per_line: bool) -> list[str]:
    texts = ([json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
             if path.is_file() else [" ".join(FALLBACK)])
    if one_sentence_per_line:
        return [s for t in texts for s in split_sentences(t)]
    return texts


def text_of(pieces: list[str], megabytes: float) -> str:
    target = int(megabytes * 1024 * 1024)
    out: list[str] = []
    size = 0
    i = 0
    while size < target:
        piece = pieces[i % len(pieces)]
        out.append(piece)
        size += len(piece.encode("utf-8")) + 1
        i += 1
    return "\n".join(out)


def clear_caches() -> None:
    sentence_module._analyze_cached.cache_clear()
    sections_module._features.cache_clear()


TOOLS = {
    "parse": lambda path: load_report(path),
    "extract": lambda path: extract_lesions(load_report(path), scope="thorax"),
    "vqa": lambda path: generate_vqa(load_report(path)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=REPO.parent / "shared" / "data" / "real" / "reports.jsonl")
    parser.add_argument("--sizes", default="0.25,0.5,1,2", help="MB of report text, comma-separated")
    parser.add_argument("--lines", action="store_true", help="one sentence per line (the line-break case)")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    pieces = corpus(args.reports, args.lines)
    print(f"corpus: {len(pieces)} {'sentences' if args.lines else 'reports'} from "
          f"{args.reports if args.reports.is_file() else 'the built-in sentences'}, one per line; single process")
    with TemporaryDirectory() as folder:
        files = {}
        for mb in sizes:
            files[mb] = Path(folder) / f"report_{mb}MB.txt"
            files[mb].write_text(text_of(pieces, mb), encoding="utf-8")
        TOOLS["extract"](files[sizes[0]])  # lexicon loaded and regexes compiled once, outside the timings
        print(f"{'tool':8} {'MB':>6} {'lines':>8} {'seconds':>9} {'s/MB':>7} {'ratio':>6}")
        for name, tool in TOOLS.items():
            previous = None
            for mb in sizes:
                clear_caches()
                start = time.perf_counter()
                tool(files[mb])
                seconds = time.perf_counter() - start
                lines = files[mb].read_text(encoding="utf-8").count("\n") + 1
                ratio = f"{seconds / previous:6.2f}" if previous else "     -"
                print(f"{name:8} {mb:6.2f} {lines:8d} {seconds:9.2f} {seconds / mb:7.2f} {ratio}")
                previous = seconds
        print("ratio: time against the previous size (each size doubles: ~2 is linear, ~4 quadratic)")


if __name__ == "__main__":
    main()
