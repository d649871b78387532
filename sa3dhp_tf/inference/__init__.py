"""Running an exported model on a video (`python -m sa3dhp_tf.infer`), one module per job:

  video       reading frames with OpenCV, writing MP4 (one clear error for a bad file)
  detection   the person boxes of a frame: OpenCV's HOG people detector, or a box file
  tracking    one person followed across frames
  cropping    the square, person-centred crop the model was trained on
  predictor   a SavedModel version dir or a TFLite file behind one `predict(crops)` call
  smoothing   temporal smoothing of the per-frame poses (never across a gap)
  rendering   the frame with box and projected skeleton beside a 3D skeleton view
  progress    a progress bar on stderr
  pipeline    all of the above, writing JSON, NPZ, MP4 and a PNG panel
"""
