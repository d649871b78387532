"""tools/fetch_wheel_file.py (one file out of a package-index wheel, into a cache) and
tools/bench_blazepose.py (our TFLite export against BlazePose, one run)."""

import glob
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools"))
import bench_blazepose  # noqa: E402
import fetch_wheel_file  # noqa: E402
import cli_harness

VIDEO = ("sports2d", "0.8.34", "Sports2D/Demo/demo.mp4")


def _fetch_or_skip(*args, **kwargs):
  try:
    return fetch_wheel_file.fetch(*args, **kwargs)
  except fetch_wheel_file.FetchError as e:
    if "pip download" in str(e):
      pytest.skip(f"not cached and the package index cannot be reached: {e}")
    raise


def test_fetch_extracts_one_checked_file_and_then_needs_no_network(tmp_path, monkeypatch):
  cache = str(tmp_path / "cache")
  path = _fetch_or_skip(*VIDEO, cache_dir=cache)
  assert path == fetch_wheel_file.cached_path(*VIDEO, cache_dir=cache)
  assert os.listdir(os.path.dirname(path)) == ["demo.mp4"]  # no wheel, no partial file left
  assert fetch_wheel_file._sha256(path) == fetch_wheel_file.KNOWN[VIDEO]

  def no_network(*args, **kwargs):
    raise AssertionError("a cached file must not be downloaded again")
  monkeypatch.setattr(subprocess, "run", no_network)
  assert fetch_wheel_file.fetch(*VIDEO, cache_dir=cache) == path


def test_fetch_rejects_a_wrong_hash_or_member_and_leaves_nothing(tmp_path):
  cache = str(tmp_path / "cache")
  with pytest.raises(fetch_wheel_file.FetchError) as raised:
    _fetch_or_skip(*VIDEO, sha256="0" * 64, cache_dir=cache)
  assert "SHA-256" in str(raised.value)
  with pytest.raises(fetch_wheel_file.FetchError, match="has no Sports2D/Demo/missing.mp4"):
    _fetch_or_skip("sports2d", "0.8.34", "Sports2D/Demo/missing.mp4", cache_dir=cache)
  assert glob.glob(os.path.join(cache, "*", "*")) == []


def test_the_sample_video_script_prints_the_cached_path(tmp_path):
  result = subprocess.run(["bash", os.path.join(REPO, "tools", "fetch_sample_video.sh"),
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHON=cli_harness.python_executable()))
  if result.returncode != 0 and "pip download" in result.stderr:
    pytest.skip(f"the package index cannot be reached: {result.stderr.strip()}")
  assert result.returncode == 0, result.stderr
  path = result.stdout.strip()
  assert path == fetch_wheel_file.cached_path(*VIDEO, cache_dir=str(tmp_path))
  assert os.path.getsize(path) == 3968304


@pytest.mark.slow
def test_bench_times_our_tflite_against_blazepose_in_one_run(tmp_path_factory):
  import shared_stages
  exported = shared_stages.exported_source(tmp_path_factory)
  ours = exported["tflite"]
  _fetch_or_skip(*bench_blazepose.BLAZEPOSE)
  result = bench_blazepose.run_benchmark({"ours": ours}, threads=(1,), frames=4, warmup=1,
                                         rounds=2, saved_model=exported["saved_model"])
  rows = {r["model"]: r for r in result["results"]}
  assert set(rows) == {"ours", "saved_model", bench_blazepose.BLAZEPOSE_NAME}
  saved = rows["saved_model"]
  assert saved["runtime"] == "tensorflow" and saved["frames"] == 4
  assert saved["input_shape"] == rows["ours"]["input_shape"]  # the export's crop size
  assert saved["ratio_to_blazepose"] == pytest.approx(
      saved["median_ms"] / rows[bench_blazepose.BLAZEPOSE_NAME]["median_ms"])
  blaze = rows[bench_blazepose.BLAZEPOSE_NAME]
  assert blaze["input_shape"] == [1, 256, 256, 3] and blaze["input_dtype"] == "float32"
  assert blaze["ratio_to_blazepose"] == 1.0 and blaze["frames"] == rows["ours"]["frames"] == 4
  assert rows["ours"]["median_ms"] > 0
  assert rows["ours"]["ratio_to_blazepose"] == pytest.approx(
      rows["ours"]["median_ms"] / blaze["median_ms"])
  assert "| ours | 1 |" in bench_blazepose.markdown_table(result)
