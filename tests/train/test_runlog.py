"""Run logs: long-format CSV that forgets rows past the resume point, TensorBoard events, the curve PNG."""

from __future__ import annotations

from vipet.train.runlog import RunLogger, plot_training_curves, read_metrics


def test_resume_drops_rows_logged_after_the_checkpoint(tmp_path):
    logger = RunLogger(tmp_path)
    for step in (1, 2, 3, 4):
        logger.log(step, "train", {"loss": 1.0 / step, "lr": 0.1, "flag": True, "note": "skip"})
    logger.log(4, "val", {"loss": 0.3, "report.F1-T": 12.5})
    logger.close()
    rows = read_metrics(tmp_path / "metrics.csv")
    assert {(r["split"], r["name"]) for r in rows} == {("train", "loss"), ("train", "lr"), ("val", "loss"), ("val", "report.F1-T")}
    assert [r["value"] for r in rows if r["name"] == "loss" and r["split"] == "train"] == [1.0, 0.5, 1.0 / 3, 0.25]
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    RunLogger(tmp_path, resume_step=2).close()  # the run restarts from the step-2 checkpoint
    assert max(r["step"] for r in read_metrics(tmp_path / "metrics.csv")) == 2


def test_curve_png_is_written(tmp_path):
    logger = RunLogger(tmp_path)
    for step in range(1, 6):
        logger.log(step, "train", {"loss": 3.0 / step, "lm_loss": 2.5 / step})
    logger.log(5, "val", {"loss": 0.8, "report.F1-T": 30.0})
    logger.close()
    png = plot_training_curves(tmp_path, val_metrics=("report.F1-T",))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
