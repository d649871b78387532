"""CMU Graphics Lab Motion Capture as unpaired pose sequences (the `mocap` split).

Reads ASF/AMC folders (`subjects/<nn>/<nn>.asf` + `<nn>_<trial>.amc`, 120 fps) and BVH folders
(e.g. the cgspeed conversions `<nn>/<nn>_<trial>.bvh`) through the landed readers
(`data/motion/asf_amc.py`, `data/motion/bvh.py`), at 30 fps, world frame z up, mm; the pelvis is
the hip midpoint for both (kinematics.PELVIS_DEFINITION). Skeleton differences that no
converter removes (the readers map joint centres, they do not retarget): CMU subjects' hip width
and pelvis-to-thorax length follow the ASF bone lengths of each subject (the hips are CMU's
`hipjoint` ends, wider apart and lower than H36M's hip markers, and CMU's thorax is the top of its
`thorax` bone, close to H36M's); the ASF/BVH 'head' is the top of the head bone, and the
BVH head top may be an `extend` of the head joint (see bvh.py). When one take exists as both
.amc and .bvh under the root, both are converted (pass `formats=('asf',)` or `('bvh',)`).
"""

import dataclasses
import glob
import os

from sa3dhp_tf.data.converters import registry
from sa3dhp_tf.data.motion import asf_amc
from sa3dhp_tf.data.motion import bvh

LAYOUT = """\
<root>/**/<subject>.asf with <subject>_<trial>.amc beside it   (ASF/AMC release)
<root>/**/<subject>_<trial>.bvh                                (BVH conversions)"""


@dataclasses.dataclass(frozen=True)
class Options:
  formats: tuple = ("asf", "bvh")
  bvh_units: str = "auto"
  source_fps: float = asf_amc.CMU_AMC_FPS     # AMC files carry no frame rate


def _asf_for(amc_path):
  folder = os.path.dirname(amc_path)
  subject = os.path.basename(amc_path).split("_")[0]
  candidate = os.path.join(folder, f"{subject}.asf")
  if os.path.isfile(candidate):
    return candidate
  asfs = sorted(glob.glob(os.path.join(folder, "*.asf")))
  return asfs[0] if len(asfs) == 1 else candidate   # a missing ASF fails that item by name


def list_items(root, options: Options):
  items = []
  if "asf" in options.formats:
    for amc in sorted(glob.glob(os.path.join(root, "**", "*.amc"), recursive=True)):
      items.append(registry.Item("train", os.path.relpath(amc, root), (amc, _asf_for(amc)),
                                 (("format", "asf"),)))
  if "bvh" in options.formats:
    for path in sorted(glob.glob(os.path.join(root, "**", "*.bvh"), recursive=True)):
      items.append(registry.Item("train", os.path.relpath(path, root), (path,),
                                 (("format", "bvh"),)))
  return items


def read_item(item, options):
  if item.get("format") == "asf":
    amc, asf = item.paths
    if not os.path.isfile(asf):
      raise registry.file_error(amc, f"no skeleton file {asf} for this motion")
    clip = asf_amc.read_asf_amc(asf, amc, source_fps=options.source_fps)
  else:
    clip = bvh.read_bvh(item.paths[0], units=options.bvh_units)
  name = os.path.splitext(os.path.basename(item.paths[0]))[0]
  yield registry.MocapSequence(sequence_id=f"cmu_mocap/{item.key}",
                               subject=f"cmu{name.split('_')[0]}", action=name, fps=clip.fps,
                               poses_world=clip.poses)


registry.register(registry.Converter(
    name="cmu_mocap", description="CMU MoCap ASF/AMC and BVH folders -> unpaired mocap",
    layout=LAYOUT, roles=("mocap",), default_role="mocap",
    options=Options, list_items=list_items, read_item=read_item))
