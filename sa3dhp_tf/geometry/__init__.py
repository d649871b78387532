"""Geometry: pose-side and image-side transforms, cameras and projection."""
