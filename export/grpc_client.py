r"""gRPC client for a TF Serving pose model (export/docker-compose.yml).

  pip install grpcio && pip install --no-deps tensorflow-serving-api   # beside tensorflow(-cpu)
  python export/grpc_client.py --address=localhost:8500 crop1.jpg crop2.png
  python export/grpc_client.py --signature=serving_clip clip.npy        # uint8 [N, 30, H, W, 3]

Builds a `PredictRequest` (tensorflow-serving-api's protos) and prints pose3d (mm).
"""

import argparse
import json
import sys

import numpy as np

MODEL_NAME = "sa3dhp_pose"
INPUT_NAMES = {"serving_bytes": "images", "serving_default": "images", "serving_clip": "clips"}


def predict_request(inputs, signature="serving_bytes", model=MODEL_NAME, version=None):
  """A `PredictRequest` for `signature`: `inputs` is a list of encoded images (serving_bytes)
  or a uint8 array (serving_default [N, H, W, 3], serving_clip [N, 30, H, W, 3])."""
  import tensorflow as tf
  from tensorflow_serving.apis import predict_pb2
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model
  request.model_spec.signature_name = signature
  if version:
    request.model_spec.version.value = int(version)
  if signature == "serving_bytes":
    tensor = tf.make_tensor_proto(list(inputs), dtype=tf.string)
  else:
    tensor = tf.make_tensor_proto(np.asarray(inputs, np.uint8), dtype=tf.uint8)
  request.inputs[INPUT_NAMES[signature]].CopyFrom(tensor)
  return request


def predict(address, request, timeout=30.0):
  """Sends `request`; returns {output name: numpy array}."""
  import grpc
  import tensorflow as tf
  from tensorflow_serving.apis import prediction_service_pb2_grpc
  with grpc.insecure_channel(address) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    response = stub.Predict(request, timeout)
  return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("inputs", nargs="+", help="JPEG/PNG crops, or one .npy of uint8 pixels")
  parser.add_argument("--address", default="localhost:8500")
  parser.add_argument("--model", default=MODEL_NAME)
  parser.add_argument("--version", type=int, default=None)
  parser.add_argument("--signature", default="serving_bytes", choices=sorted(INPUT_NAMES))
  args = parser.parse_args(argv)
  try:
    if args.signature == "serving_bytes":
      inputs = [open(p, "rb").read() for p in args.inputs]
    else:
      inputs = np.load(args.inputs[0])
    outputs = predict(args.address, predict_request(inputs, args.signature, args.model,
                                                    args.version))
  except (OSError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(json.dumps({k: v.tolist() for k, v in outputs.items()}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
