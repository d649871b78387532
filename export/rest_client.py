r"""REST client for a TF Serving pose model (export/docker-compose.yml). Standard library +
numpy + OpenCV only: no TensorFlow on the client.

  python export/rest_client.py --url=http://localhost:8501 crop1.jpg crop2.png
  python export/rest_client.py --signature=serving_default crop.jpg   # decoded pixels

`serving_bytes` sends the files as base64 (`{"b64": ...}`, TF Serving's binary JSON encoding);
`serving_default` sends decoded uint8 RGB pixels as nested lists. Prints pose3d (mm) per image.
"""

import argparse
import base64
import json
import sys
import urllib.request

import numpy as np

MODEL_NAME = "sa3dhp_pose"


def bytes_body(encoded_images, signature="serving_bytes"):
  """The JSON body of a predict call on `serving_bytes`: one base64 string per image."""
  return {"signature_name": signature,
          "instances": [{"b64": base64.b64encode(e).decode("ascii")} for e in encoded_images]}


def pixels_body(images, signature="serving_default"):
  """The JSON body of a predict call on `serving_default`: uint8 `[N, H, W, 3]` (RGB) as
  nested lists (all images one size: JSON `instances` form one tensor)."""
  images = np.asarray(images)
  if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
    raise ValueError(f"expected uint8 images [N, H, W, 3], got {images.dtype} {images.shape}")
  return {"signature_name": signature, "instances": images.tolist()}


def predict_url(base_url, model=MODEL_NAME, version=None):
  version_part = f"/versions/{int(version)}" if version else ""
  return f"{base_url.rstrip('/')}/v1/models/{model}{version_part}:predict"


def predict(base_url, body, model=MODEL_NAME, version=None, timeout=30.0):
  """POSTs `body`; returns the `predictions` list (one {pose3d, latent} dict per instance)."""
  request = urllib.request.Request(predict_url(base_url, model, version),
                                   data=json.dumps(body).encode(), method="POST",
                                   headers={"Content-Type": "application/json"})
  with urllib.request.urlopen(request, timeout=timeout) as response:
    return json.loads(response.read())["predictions"]


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("images", nargs="+", help="JPEG or PNG person crops")
  parser.add_argument("--url", default="http://localhost:8501")
  parser.add_argument("--model", default=MODEL_NAME)
  parser.add_argument("--version", type=int, default=None)
  parser.add_argument("--signature", default="serving_bytes",
                      choices=["serving_bytes", "serving_default"])
  args = parser.parse_args(argv)
  try:
    if args.signature == "serving_bytes":
      body = bytes_body([open(p, "rb").read() for p in args.images])
    else:
      import cv2
      frames = [cv2.imread(p, cv2.IMREAD_COLOR) for p in args.images]
      for path, frame in zip(args.images, frames):
        if frame is None:
          raise ValueError(f"{path}: not a readable image")
      body = pixels_body(np.stack([f[..., ::-1] for f in frames]))
    predictions = predict(args.url, body, args.model, args.version)
  except (OSError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  for path, prediction in zip(args.images, predictions):
    print(json.dumps({"image": path, "pose3d_mm": prediction["pose3d"]}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
