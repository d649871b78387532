"""The OpenCV body renderer and its gin styles: determinism, equivariance under the relation
transforms, depth order, facing cues, camera framing, degradations and input checks."""

import dataclasses
import pickle

import gin
import numpy as np
import pytest

from sa3dhp_tf import skeleton
from sa3dhp_tf.data import render as render_lib
from sa3dhp_tf.data.render import styles
from sa3dhp_tf.geometry import camera
from sa3dhp_tf.geometry import image_transforms as imt
from sa3dhp_tf.geometry import pose_transforms as pt

SIZE = (64, 64)

# A relaxed standing pose in the world frame (z up, mm), facing +y; its right side is +x.
A_POSE = np.array([
    [0, 0, 950], [120, 0, 945], [125, 10, 510], [125, -10, 90],
    [-120, 0, 945], [-125, 10, 510], [-125, -10, 90],
    [0, -10, 1180], [0, 0, 1420], [0, 90, 1530], [0, 10, 1650],
    [-170, 0, 1400], [-220, 0, 1120], [-240, 20, 870],
    [170, 0, 1400], [220, 0, 1120], [240, 20, 870]], np.float64)


def _walk_pose():
  pose = A_POSE.copy()
  pose[2], pose[3] = [120, 150, 530], [120, 220, 100]
  pose[5], pose[6] = [-125, -100, 520], [-125, -300, 160]
  pose[12], pose[13] = [-210, 160, 1150], [-180, 330, 1000]
  pose[15], pose[16] = [260, -130, 1140], [330, -230, 1300]
  return pose


def _to_camera(pose_world, azimuth, elevation=0.0, roll=0.0, distance=4000.0):
  """Look-at-root camera frame: the pelvis on the optical axis at `distance`. Azimuth -90 sees
  the front of a +y-facing person, 0 its right profile (facing image left)."""
  rotation = camera.look_at_rotation(azimuth, elevation, roll)
  return camera.world_to_camera(pose_world, rotation, pose_world[0], distance)


def _intrinsics(size=SIZE, fill=0.8, distance=4000.0):
  height, width = size
  return camera.Intrinsics.centred(fill * height * distance / 1700.0, width, height)


@pytest.fixture(autouse=True)
def _fresh_gin():
  gin.clear_config()
  yield
  gin.clear_config()


def _symmetric_style(**overrides):
  """A left/right symmetric appearance: same colours both sides, headlight (along the optical
  axis, so also invariant to in-plane rotation), flat black background, no degradations."""
  settings = dict(side_value_offset=(0.0, 0.0), side_hue_offset=(0.0, 0.0), light_angle=(0.0, 0.0),
                  background_kinds=("flat",), background_weights=(1.0,),
                  background_palette=((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)), clutter_prob=0.0,
                  color_gain=(1.0, 1.0), blur_sigma=(0.0, 0.0), noise_std=(0.0, 0.0),
                  jpeg_prob=0.0)
  settings.update(overrides)
  return styles.get_style("source", **settings)


def _views():
  return [(_walk_pose(), -60.0, 10.0, 0.0), (A_POSE, 30.0, -5.0, 10.0),
          (_walk_pose(), 160.0, 25.0, -15.0)]


# ---------------------------------------------------------------------------------------------
# Styles


@pytest.mark.parametrize("name", ["source", "target"])
def test_style_file_binds_every_field(name):
  gin.parse_config_file(styles.style_file(name))
  for cls in (styles.RenderStyle, styles.CameraRanges):
    for field in dataclasses.fields(cls):
      gin.query_parameter(f"{name}/{cls.__name__}.{field.name}")  # raises if unbound
  style = styles.get_style(name)
  assert style.name == name
  assert isinstance(style.camera, styles.CameraRanges)
  described = styles.describe_style(style)
  assert described["camera"]["fill"] == list(style.camera.fill)
  # Styles travel to worker processes.
  assert styles.describe_style(pickle.loads(pickle.dumps(style))) == described


def test_missing_binding_is_named(tmp_path):
  with open(styles.style_file("source")) as f:
    text = "".join(line for line in f if "RenderStyle.blur_sigma" not in line)
  path = tmp_path / "partial.gin"
  path.write_text(text)
  gin.parse_config_file(str(path))
  with pytest.raises(ValueError, match="blur_sigma"):
    styles.get_style("source")


def test_style_validation_and_overrides():
  style = styles.get_style("target", blur_sigma=(1.5, 1.5))
  assert style.blur_sigma == (1.5, 1.5) and style.name == "target"
  with pytest.raises(ValueError, match="blur_sigma"):
    styles.get_style("source", blur_sigma=(2.0, 1.0))
  with pytest.raises(ValueError, match="no_such_field"):
    styles.get_style("source", no_such_field=1)
  with pytest.raises(ValueError, match="background_kinds"):
    styles.get_style("source", background_kinds=("flat", "photo"), background_weights=(1, 1))
  with pytest.raises(ValueError, match="unknown render style"):
    styles.get_style("no_such_style")


def test_source_and_target_differ_where_the_benchmark_needs_them_to():
  source, target = styles.get_style("source"), styles.get_style("target")
  assert target.clutter_prob > source.clutter_prob
  assert target.blur_sigma[0] > source.blur_sigma[1] / 2
  assert target.noise_std[0] > source.noise_std[1]
  assert target.thickness_scale[0] >= source.thickness_scale[1] - 0.1
  assert target.camera.elevation != source.camera.elevation
  assert target.camera.distance != source.camera.distance
  # Both keep the facing cues that make left/right recoverable from shape.
  for style in (source, target):
    assert style.nose_protrusion > 0 and style.foot_length_mm[0] > 0


# ---------------------------------------------------------------------------------------------
# Determinism and sequences


@pytest.mark.parametrize("name", ["source", "target"])
def test_deterministic_for_a_seed_and_different_across_seeds(name):
  style = styles.get_style(name)
  pose = _to_camera(_walk_pose(), -50.0, 15.0)
  render = lambda seed: render_lib.render_pose(pose, _intrinsics(), style,
                                             np.random.default_rng(seed), SIZE)
  first, again, other = render(7), render(7), render(8)
  assert first.dtype == np.uint8 and first.shape == SIZE + (3,)
  np.testing.assert_array_equal(first, again)
  assert np.abs(first.astype(int) - other.astype(int)).mean() > 5.0


def test_sequence_is_one_person_in_one_place():
  style = styles.get_style("source", noise_std=(4.0, 4.0), jpeg_prob=0.0, blur_sigma=(0.0, 0.0))
  poses = np.stack([_to_camera(_walk_pose(), -60.0), _to_camera(_walk_pose(), -60.0),
                    _to_camera(A_POSE, -60.0)])
  frames = render_lib.render_sequence(poses, _intrinsics(), style, np.random.default_rng(3), SIZE)
  assert frames.shape == (3,) + SIZE + (3,) and frames.dtype == np.uint8
  diff = np.abs(frames[0].astype(float) - frames[1].astype(float))
  # Same pose: only sensor noise differs (std 4 grey levels per frame -> |diff| ~ 4.5 on average).
  assert 1.0 < diff.mean() < 8.0
  # The split API gives the same frames as render_sequence for the same random stream.
  rng = np.random.default_rng(3)
  appearance = render_lib.sample_appearance(style, rng)
  # The background is the same place in every frame: off the body it agrees up to noise.
  _, alpha0 = render_lib.render_body(poses[0], _intrinsics(), appearance, SIZE)
  _, alpha2 = render_lib.render_body(poses[2], _intrinsics(), appearance, SIZE)
  background = (alpha0 == 0) & (alpha2 == 0)
  assert np.abs(frames[0].astype(float) - frames[2].astype(float))[background].mean() < 8.0
  assert np.abs(frames[0].astype(float) - frames[2].astype(float))[~background].mean() > 8.0
  split = [render_lib.render_frame(p, _intrinsics(), appearance, rng, SIZE, style) for p in poses]
  np.testing.assert_array_equal(np.stack(split), frames)
  # Different sequences look like different people.
  other = render_lib.render_sequence(poses, _intrinsics(), style, np.random.default_rng(4), SIZE)
  assert np.abs(other[0].astype(float) - frames[0].astype(float)).mean() > 5.0


def test_appearance_pickles_and_rejects_other_styles():
  style = styles.get_style("target")
  appearance = render_lib.sample_appearance(style, np.random.default_rng(0))
  pose = _to_camera(A_POSE, -60.0)
  image = render_lib.render_frame(pose, _intrinsics(), appearance, np.random.default_rng(1), SIZE)
  copy = pickle.loads(pickle.dumps(appearance))
  np.testing.assert_array_equal(
      render_lib.render_frame(pose, _intrinsics(), copy, np.random.default_rng(1), SIZE), image)
  with pytest.raises(ValueError, match="sampled from style 'target'"):
    render_lib.render_frame(pose, _intrinsics(), appearance, np.random.default_rng(1), SIZE,
                          styles.get_style("source"))


# ---------------------------------------------------------------------------------------------
# Equivariance with the relation transforms


def _render_with(appearance, pose, size=SIZE):
  image = render_lib.render_frame(pose, _intrinsics(size), appearance, np.random.default_rng(0),
                                size)
  _, alpha = render_lib.render_body(pose, _intrinsics(size), appearance, size)
  return image.astype(np.float64), alpha


@pytest.mark.parametrize("view", range(3))
def test_flipped_image_is_the_image_of_the_flipped_pose(view):
  pose_world, azimuth, elevation, roll = _views()[view]
  pose = _to_camera(pose_world, azimuth, elevation, roll)
  appearance = render_lib.sample_appearance(_symmetric_style(), np.random.default_rng(view))
  image, alpha = _render_with(appearance, pose)
  flipped, flipped_alpha = _render_with(appearance, pt.flip_pose(pose).numpy())
  mirrored = imt.flip_image(image).numpy()
  foreground = (alpha > 0) | (flipped_alpha > 0)
  # Anti-aliasing: the rasteriser's tie rules are not mirror symmetric, so an edge pixel may
  # differ by about one of its 3 x 3 supersamples (255 / 9 grey levels against black).
  error = np.abs(mirrored - flipped).max(-1)[foreground]
  assert foreground.sum() > 200
  assert (error <= 32).mean() > 0.99, (error <= 32).mean()
  assert error.mean() < 2.0, error.mean()
  # The check has teeth: the unflipped rendering of the pose does not pass it.
  assert (np.abs(image - flipped).max(-1)[foreground] <= 32).mean() < 0.9


@pytest.mark.parametrize("view,theta", [(0, 30.0), (1, -30.0), (2, 75.0)])
def test_rotated_image_is_the_image_of_the_rotated_pose(view, theta):
  pose_world, azimuth, elevation, roll = _views()[view]
  pose = _to_camera(pose_world, azimuth, elevation, roll)
  appearance = render_lib.sample_appearance(_symmetric_style(), np.random.default_rng(view))
  image, alpha = _render_with(appearance, pose)
  image = image.astype(np.float32)
  rotated, rotated_alpha = _render_with(appearance, pt.rotate_pose_inplane(pose, theta).numpy())
  resampled = imt.rotate_image(image, theta, fill_mode="constant").numpy()
  resampled_alpha = imt.rotate_image(alpha[..., None], theta, fill_mode="constant").numpy()[..., 0]
  # Silhouettes match up to resampling; inside them, colours do.
  inter = ((resampled_alpha > 0.5) & (rotated_alpha > 0.5)).sum()
  union = ((resampled_alpha > 0.5) | (rotated_alpha > 0.5)).sum()
  assert inter / union > 0.93, inter / union
  foreground = (rotated_alpha > 0) | (resampled_alpha > 0)
  close = np.abs(resampled - rotated).max(-1)[foreground] <= 40
  assert close.mean() > 0.93, close.mean()
  assert np.abs(resampled - rotated)[foreground].mean() < 10.0
  # Teeth: rotating the other way does not pass.
  wrong = imt.rotate_image(image, -theta, fill_mode="constant").numpy()
  assert (np.abs(wrong - rotated).max(-1)[foreground] <= 40).mean() < 0.6


# ---------------------------------------------------------------------------------------------
# Geometry of the drawing


@pytest.mark.parametrize("name", ["source", "target"])
def test_foreground_covers_the_projected_joints(name):
  style = styles.get_style(name)
  rng = np.random.default_rng(11)
  for pose_world, azimuth, elevation, roll in _views():
    pose = _to_camera(pose_world, azimuth, elevation, roll)
    appearance = render_lib.sample_appearance(style, rng)
    _, alpha = render_lib.render_body(pose, _intrinsics(), appearance, SIZE)
    uv = np.round(camera.project(pose, _intrinsics())).astype(int)
    inside = (uv >= 0).all(-1) & (uv[:, 0] < SIZE[1]) & (uv[:, 1] < SIZE[0])
    assert inside.all()
    covered = alpha[uv[:, 1], uv[:, 0]]
    assert (covered > 0.5).all(), dict(zip(skeleton.JOINT_NAMES, covered.round(2)))
    # ... and is a body, not the whole crop.
    assert 0.05 < (alpha > 0.5).mean() < 0.5


def _two_colour_style():
  """Top red, skin green (short sleeves: forearms are skin), everything else dim."""
  palette = {"top": ((0.0, 0.0), (1.0, 1.0), (0.9, 0.9)),
             "bottom": ((240.0, 240.0), (1.0, 1.0), (0.5, 0.5)),
             "skin": ((120.0, 120.0), (1.0, 1.0), (0.9, 0.9)),
             "hair": ((0.0, 0.0), (0.0, 0.0), (0.1, 0.1)),
             "shoes": ((0.0, 0.0), (0.0, 0.0), (0.2, 0.2)),
             "mark": ((60.0, 60.0), (1.0, 1.0), (0.9, 0.9))}
  return _symmetric_style(palette=palette, long_sleeve_prob=0.0, stripe_prob={},
                          chest_mark_prob=0.0, part_value_jitter=(1.0, 1.0))


@pytest.mark.parametrize("in_front", [True, False])
def test_nearer_limbs_occlude_farther_ones(in_front):
  pose_world = A_POSE.copy()
  sign = 1.0 if in_front else -1.0  # +y: in front of the chest (the person faces +y)
  pose_world[15] = [200, sign * 200, 1200]   # right elbow
  pose_world[16] = [-150, sign * 260, 1250]  # right wrist, across the body
  pose = _to_camera(pose_world, -90.0)       # seen from the front
  appearance = render_lib.sample_appearance(_two_colour_style(), np.random.default_rng(0))
  size = (96, 96)
  image, _ = _render_with(appearance, pose, size)
  # Where the forearm crosses the chest (between the elbow and wrist, on the torso).
  middle = 0.5 * (pose[15] + pose[16])
  u, v = np.round(camera.project(middle, _intrinsics(size))).astype(int)
  red, green = image[v, u, 0], image[v, u, 1]
  if in_front:
    assert green > red + 60, (red, green)    # the forearm (skin) hides the shirt
  else:
    assert red > green + 60, (red, green)    # the torso hides the forearm behind it


@pytest.mark.parametrize("azimuth,facing_sign", [(0.0, -1.0), (180.0, 1.0)])
def test_facing_direction_is_visible_in_the_silhouette(azimuth, facing_sign):
  """Profile views: the feet and nose stick out on the side the person faces, so facing
  (and with it left/right) is recoverable from the silhouette alone, whatever the colours."""
  pose = _to_camera(A_POSE, azimuth)
  size = (96, 96)
  appearance = render_lib.sample_appearance(_symmetric_style(), np.random.default_rng(0))
  _, alpha = render_lib.render_body(pose, _intrinsics(size), appearance, size)
  uv = camera.project(pose, _intrinsics(size))
  ankle_v = int(round(uv[skeleton.JOINT_INDEX["r_ankle"], 1]))
  feet = alpha[ankle_v - 1:, :] > 0.5
  xs = np.nonzero(feet)[1]
  ankle_u = uv[[3, 6], 0].mean()
  # The feet extend further on the facing side than behind the ankles.
  ahead = facing_sign * (xs - ankle_u)
  assert ahead.max() > 2.0 * max(-ahead.min(), 0.5), (ahead.min(), ahead.max())
  # The nose sticks out of the head's silhouette on the facing side.
  flat = dataclasses.replace(appearance, nose_protrusion=0.0, nose_radius=0.0)
  _, alpha_flat = render_lib.render_body(pose, _intrinsics(size), flat, size)
  ys, xs = np.nonzero(alpha - alpha_flat > 0.3)
  head_u, head_v = uv[skeleton.JOINT_INDEX["head"]]
  assert len(xs) >= 2
  assert (facing_sign * (xs - head_u) > 1.0).all() and (np.abs(ys - head_v) < 8).all()


def test_framing_follows_the_camera_fill():
  """A standing person seen at eye level covers `fill` of the crop height (reference 1.7 m;
  this pose is about 1.61 m from the soles to the top of the head)."""
  style = _symmetric_style()
  appearance = render_lib.sample_appearance(style, np.random.default_rng(0))
  for fill, distance in ((0.8, 4000.0), (0.7, 2500.0), (0.85, 6000.0)):
    pose = _to_camera(A_POSE, -70.0, distance=distance)
    size = (64, 64)
    focal = style.camera.focal_px(fill, distance, size[0])
    intrinsics = camera.Intrinsics.centred(focal, size[1], size[0])
    _, alpha = render_lib.render_body(pose, intrinsics, appearance, size)
    rows = np.nonzero((alpha > 0.5).any(axis=1))[0]
    height = rows.max() - rows.min() + 1
    assert abs(height / size[0] - fill * 1610 / 1700) < 0.06, (fill, height)
  # The styles' own sampled views keep a standing person inside the crop.
  for name in ("source", "target"):
    style = styles.get_style(name)
    rng = np.random.default_rng(5)
    for _ in range(4):
      rotation, distance, _ = camera.random_view(rng, style.view_ranges)
      pose, _ = camera.to_root_camera(
          camera.world_to_camera(A_POSE, rotation, A_POSE[0], distance))
      intrinsics = style.sample_intrinsics(rng, distance, SIZE)
      _, alpha = render_lib.render_body(pose, intrinsics, render_lib.sample_appearance(style, rng),
                                      SIZE)
      rows = np.nonzero((alpha > 0.5).any(axis=1))[0]
      assert rows.min() > 0 and rows.max() < SIZE[0] - 1
      assert 0.45 < (rows.max() - rows.min() + 1) / SIZE[0] < 0.95


@pytest.mark.parametrize("size", [(64, 64), (32, 48), (80, 56), (128, 128)])
def test_dtype_shape_and_centring_for_any_size(size):
  style = styles.get_style("target")
  pose = _to_camera(A_POSE, -60.0)
  image = render_lib.render_pose(pose, _intrinsics(size), style, np.random.default_rng(0), size)
  assert image.dtype == np.uint8 and image.shape == size + (3,)
  _, alpha = render_lib.render_body(pose, _intrinsics(size),
                                  render_lib.sample_appearance(style, np.random.default_rng(0)),
                                  size)
  assert alpha.shape == size and alpha.dtype == np.float32
  # The pelvis is on the optical axis: the body is centred horizontally in the crop.
  cols = np.nonzero((alpha > 0.5).any(axis=0))[0]
  assert abs(0.5 * (cols.min() + cols.max()) - (size[1] - 1) / 2) < 0.15 * size[1]


# ---------------------------------------------------------------------------------------------
# Degradations


def test_degradations_take_effect():
  pose = _to_camera(_walk_pose(), -60.0)
  base = dict(background_kinds=("gradient",), background_weights=(1.0,),
              background_contrast=(0.3, 0.3), background_palette=((200, 200), (0.3, 0.3),
                                                                   (0.6, 0.6)))
  def render(**overrides):
    style = _symmetric_style(**{**base, **overrides})
    return render_lib.render_pose(pose, _intrinsics(), style, np.random.default_rng(2),
                                SIZE).astype(np.float64)
  def sharpness(image):
    return np.abs(np.diff(image, axis=1)).mean() + np.abs(np.diff(image, axis=0)).mean()
  crisp = render()
  assert sharpness(render(blur_sigma=(1.5, 1.5))) < 0.7 * sharpness(crisp)
  noisy = render(noise_std=(8.0, 8.0))
  assert 4.0 < np.abs(noisy - crisp).mean() < 10.0
  jpeg = render(jpeg_prob=1.0, jpeg_quality=(20.0, 20.0))
  assert 0.5 < np.abs(jpeg - crisp).mean() < 8.0
  # The JPEG step can be left to the writer.
  style = _symmetric_style(**base, jpeg_prob=1.0, jpeg_quality=(20.0, 20.0))
  appearance = render_lib.sample_appearance(style, np.random.default_rng(2))
  assert appearance.jpeg_quality == 20
  raw = render_lib.render_frame(pose, _intrinsics(), appearance, np.random.default_rng(2), SIZE,
                              apply_jpeg=False)
  np.testing.assert_array_equal(raw, crisp.astype(np.uint8))
  np.testing.assert_array_equal(render_lib.jpeg_roundtrip(raw, 20), jpeg.astype(np.uint8))


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_raises_naming_the_problem():
  style = styles.get_style("source")
  rng = np.random.default_rng(0)
  pose = _to_camera(A_POSE, -60.0)
  render = lambda p, **kw: render_lib.render_pose(p, kw.get("intrinsics", _intrinsics()), style,
                                                rng, kw.get("size", SIZE))
  bad = pose.copy()
  bad[13, 1] = np.nan
  with pytest.raises(ValueError, match=r"non-finite.*13 \(l_wrist\)"):
    render(bad)
  with pytest.raises(ValueError, match=r"shape \[17, 3\].*\(16, 3\)"):
    render(pose[:16])
  behind = pose.copy()
  behind[3, 2] = -100.0
  with pytest.raises(ValueError, match=r"joint 3 \(r_ankle\).*behind"):
    render(behind)
  with pytest.raises(ValueError, match="image_size"):
    render(pose, size=(64, 0))
  with pytest.raises(ValueError, match="focal"):
    render(pose, intrinsics=camera.Intrinsics(0.0, 0.0, 31.5, 31.5))
  with pytest.raises(ValueError, match=r"frame 1: .*non-finite"):
    render_lib.render_sequence(np.stack([pose, bad]), _intrinsics(), style, rng, SIZE)
