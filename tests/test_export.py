"""Export of a finished stage: signature contract, SavedModel parity with Keras, bad inputs,
the exact REST / gRPC requests the clients send, atomic versions, TFLite parity, and the legacy
`export/` models folder still read."""

import base64
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from cli_harness import run_command
import shared_stages
from sa3dhp_tf import errors
from sa3dhp_tf import stage_store
from sa3dhp_tf.export import exporter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _client(name):
  spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "export", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
  return shared_stages.tiny_chain(tmp_path_factory)


@pytest.fixture(scope="module")
def exported(chain, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("serving"))
  path = exporter.export(chain["source"], "saved_model", out, motion_aae_dir=chain["motion"])
  return {"base": out, "path": path, "loaded": tf.saved_model.load(path),
          "jpegs": exporter.benchmark_jpegs(chain["bench"], "target_test", 4)}


def _keras(chain, jpegs):
  from sa3dhp_tf.data import pipelines
  est = stage_store.load_pose_estimator(chain["source"])
  z = est.image_to_latent(tf.stack([pipelines.decode_frame(j) for j in jpegs]), training=False)
  return np.asarray(est.pose_autoencoder.decoder(z)), np.asarray(z)


def test_version_layout_metadata_and_contract(exported):
  assert exported["path"] == os.path.join(exported["base"], "1")
  assert sorted(os.listdir(exported["base"])) == ["1"]
  meta = json.load(open(os.path.join(exported["path"], "metadata.json")))
  sigs = meta["input_contract"]["signatures"]
  assert sigs["serving_default"]["inputs"] == {"images": {"dtype": "uint8",
                                                          "shape": [-1, -1, -1, -1]}}
  assert sigs["serving_bytes"]["inputs"] == {"images": {"dtype": "string", "shape": [-1]}}
  assert sigs["serving_clip"]["inputs"]["clips"]["shape"] == [-1, 30, -1, -1, -1]
  assert sigs["serving_default"]["outputs"]["pose3d"]["shape"] == [-1, 17, 3]
  assert sigs["serving_clip"]["outputs"]["motion"]["shape"][0] == -1
  assert meta["stage"] == "source" and meta["metrics"]["stage_results"]
  show = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show",
                         "--dir", exported["path"], "--all"], capture_output=True, text=True)
  for key in ("serving_default", "serving_bytes", "serving_clip"):
    assert f"signature_def['{key}']" in show.stdout
  assert "dtype: DT_UINT8" in show.stdout and "dtype: DT_STRING" in show.stdout


def test_saved_model_matches_keras(chain, exported):
  pose, z = _keras(chain, exported["jpegs"])
  out = exported["loaded"].signatures["serving_bytes"](images=tf.constant(exported["jpegs"]))
  np.testing.assert_allclose(out["pose3d"], pose, atol=1e-5 * max(1, np.abs(pose).max()))
  np.testing.assert_allclose(out["latent"], z, atol=1e-5)
  # A crop of another size is resized inside the graph.
  big = tf.image.resize(tf.io.decode_jpeg(exported["jpegs"][0]), [100, 80]).numpy()
  out = exported["loaded"].signatures["serving_default"](images=big[None].astype(np.uint8))
  assert out["pose3d"].shape == (1, 17, 3) and np.isfinite(out["pose3d"]).all()


def test_bad_inputs_fail_with_what_was_expected(exported):
  sigs = exported["loaded"].signatures
  with pytest.raises(tf.errors.InvalidArgumentError, match="3 \\(RGB\\) channels"):
    sigs["serving_default"](images=np.zeros((1, 32, 32, 4), np.uint8))
  with pytest.raises(tf.errors.InvalidArgumentError, match="not a JPEG or PNG"):
    sigs["serving_bytes"](images=tf.constant([b"hello, not an image"]))
  with pytest.raises((TypeError, ValueError)):
    sigs["serving_default"](images=np.zeros((32, 32, 3), np.uint8))  # rank 3
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match="serving_clip clips .*expected 3 \\(RGB\\) channels"):
    sigs["serving_clip"](clips=np.zeros((1, 30, 32, 32, 1), np.uint8))
  with pytest.raises((TypeError, ValueError)):
    sigs["serving_clip"](clips=np.zeros((1, 29, 32, 32, 3), np.uint8))  # not 30 frames


def test_rest_and_grpc_requests_feed_the_signatures(exported):
  rest, grpc_client = _client("rest_client"), _client("grpc_client")
  sigs = exported["loaded"].signatures
  want = sigs["serving_bytes"](images=tf.constant(exported["jpegs"]))["pose3d"].numpy()
  # REST: what TF Serving does with the body (b64 objects -> bytes, instances -> batch).
  body = json.loads(json.dumps(rest.bytes_body(exported["jpegs"])))
  assert body["signature_name"] == "serving_bytes"
  decoded = [base64.b64decode(i["b64"]) for i in body["instances"]]
  np.testing.assert_array_equal(sigs[body["signature_name"]](images=tf.constant(decoded))
                                ["pose3d"], want)
  pixels = exporter.decode_uint8(exported["jpegs"])
  body = json.loads(json.dumps(rest.pixels_body(pixels)))
  got = sigs[body["signature_name"]](images=np.asarray(body["instances"], np.uint8))["pose3d"]
  np.testing.assert_allclose(got, want, atol=1e-3)
  # gRPC: the PredictRequest's tensor, serialized and parsed as the server would.
  from tensorflow_serving.apis import predict_pb2
  request = predict_pb2.PredictRequest.FromString(
      grpc_client.predict_request(exported["jpegs"]).SerializeToString())
  assert request.model_spec.name == "sa3dhp_pose"
  feed = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
  np.testing.assert_array_equal(
      sigs[request.model_spec.signature_name](images=tf.constant(feed["images"]))["pose3d"], want)


def test_interrupted_export_leaves_no_version_and_next_export_succeeds(chain, exported):
  class Interrupted(Exception):
    pass

  def interrupt(tmp):
    assert os.path.isfile(os.path.join(tmp, "saved_model.pb"))
    raise Interrupted

  with pytest.raises(Interrupted):
    exporter.export(chain["source"], "saved_model", exported["base"],
                    motion_aae_dir=chain["motion"], before_rename=interrupt)
  assert sorted(os.listdir(exported["base"])) == ["1"]
  with pytest.raises(errors.UserError, match="already has version 1"):
    exporter.export(chain["source"], "saved_model", exported["base"], version=1)


def test_tflite_float_matches_keras(chain, tmp_path):
  path = exporter.export(chain["source"], "tflite", str(tmp_path / "pose.tflite"),
                         quantize="none")
  meta = json.load(open(path + ".metadata.json"))
  assert max(meta["validation"]["relative_error_vs_keras"].values()) < 1e-4
  runner = exporter.tflite_runner(path)
  frames = exporter.decode_uint8(exporter.benchmark_jpegs(chain["bench"], "target_test", 2))
  pose, _ = _keras(chain, exporter.benchmark_jpegs(chain["bench"], "target_test", 2))
  got = exporter.run_tflite(runner, frames)["pose3d"]
  np.testing.assert_allclose(got, pose, atol=1e-4 * max(1, np.abs(pose).max()))


def test_legacy_export_folder_still_loads(chain, tmp_path):
  old = str(tmp_path / "old_source")
  shutil.copytree(chain["source"], old)
  shared_stages.make_writable(old)  # the shared chain is read-only, and so is a copy of it
  os.rename(os.path.join(old, stage_store.MODELS_DIR),
            os.path.join(old, stage_store.LEGACY_MODELS_DIR))
  est = stage_store.load_pose_estimator(old)
  assert est.info["stage"] == "source" and est.image_to_latent.latent_dim > 0


def test_cli_errors(chain, tmp_path):
  run = lambda *a: run_command(["-m", "sa3dhp_tf.export", *a], cwd=REPO)  # noqa: E731
  r = run(f"--model_dir={chain['pose']}", f"--output={tmp_path}/o")
  assert r.returncode == 2 and "expected 'source' or 'adapt'" in r.stderr
  blocked = tmp_path / "file"
  blocked.write_text("x")
  r = run(f"--model_dir={chain['source']}", f"--output={blocked}/sub")
  assert r.returncode == 2 and "--output" in r.stderr


# The bounds docs/performance.md ("Quantised TFLite: MPJPE bounds") states, in mm: the mean
# per-joint distance between a variant's poses and the float SavedModel's on target_test frames.
QUANTISED_MPJPE_BOUNDS_MM = {"none": 0.001, "float16": 0.5, "dynamic_int8": 1.0, "int8": 10.0}
QUANTISED_FRAMES = 32


def test_the_docs_state_the_bounds_the_tests_check():
  with open(os.path.join(REPO, "docs", "performance.md")) as f:
    text = f.read()
  for quantize, bound in QUANTISED_MPJPE_BOUNDS_MM.items():
    assert f"| `{quantize}` | < {bound:g} mm |" in text, quantize


@pytest.fixture(scope="module")
def float_poses(chain, exported):
  """target_test frames (uint8 at the model's input size) and the float SavedModel's poses."""
  frames = exporter.decode_uint8(exporter.benchmark_jpegs(chain["bench"], "target_test",
                                                          QUANTISED_FRAMES))
  pose = exported["loaded"].signatures["serving_default"](images=tf.constant(frames))["pose3d"]
  return frames, pose.numpy()


@pytest.mark.parametrize("quantize", sorted(QUANTISED_MPJPE_BOUNDS_MM))
def test_quantised_tflite_mpjpe_delta_within_the_documented_bound(chain, float_poses, quantize,
                                                                   tmp_path):
  frames, want = float_poses
  path = exporter.export(chain["source"], "tflite", str(tmp_path / f"{quantize}.tflite"),
                         quantize=quantize)
  assert json.load(open(path + ".metadata.json"))["quantize"] == quantize
  got = exporter.run_tflite(exporter.tflite_runner(path), frames)["pose3d"]
  assert got.shape == want.shape == (QUANTISED_FRAMES, 17, 3) and np.isfinite(got).all()
  delta = np.linalg.norm(got - want, axis=-1).mean()
  assert delta < QUANTISED_MPJPE_BOUNDS_MM[quantize], delta
  if quantize != "none":  # the file is quantised: its poses are not the float model's
    assert delta > 0
