"""TensorBoard (`RUN/logs/`) and the periodic evaluation on held-out images.

Evaluation codes each held-out image (centre crop of at most `crop` px, whole if 0) with the
inference path (`encode`, sign binarizer) and reports, for every iteration count t, PSNR and
MS-SSIM on RGB averaged over the images (SSIM instead when a crop is below the 161 px that
five-scale MS-SSIM needs), the entropy model's bits per code bit if there is one, and an image
strip: the original, then the reconstructions after 1, 2, 4, 8 and 16 iterations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrnn import metrics
from tfrnn.errors import UserError
from tfrnn.images import list_images, load_image

STRIP_ITERATIONS = (1, 2, 4, 8, 16)


class Summaries:
    """Scalars and images to TensorBoard; a no-op writer on workers other than the chief."""

    def __init__(self, log_dir: Path | None):
        self.writer = (tf.summary.create_file_writer(str(log_dir)) if log_dir is not None
                       else tf.summary.create_noop_writer())

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with self.writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)

    def text(self, step: int, name: str, text: str) -> None:
        with self.writer.as_default():
            tf.summary.text(name, text, step=step)

    def image(self, step: int, name: str, image: np.ndarray, description: str = "") -> None:
        with self.writer.as_default():
            tf.summary.image(name, image[None], step=step, description=description)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central `size`×`size` part of an image (or less where the image is smaller)."""
    if size <= 0:
        return image
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[top:top + size, left:left + size]


class Evaluator:
    """PSNR and MS-SSIM after every iteration on up to `count` held-out images."""

    def __init__(self, folder: str, iterations: int, crop: int = 256, count: int = 8):
        paths = list_images(folder)[:count]
        if not paths:
            raise UserError(f"--eval-images {folder}: no images there")
        self.images = [center_crop(load_image(p), crop) for p in paths]
        self.iterations = int(iterations)
        small = min(min(im.shape[:2]) for im in self.images)
        if small < 11:
            raise UserError(f"--eval-images {folder}: images must be at least 11 px a side")
        self.structural = "ms_ssim" if small >= metrics.MS_SSIM_MIN_SIDE else "ssim"
        self._encode = None

    def _encoder(self, codec):
        spec = tf.TensorSpec([1, None, None, 3], tf.uint8)

        @tf.function(input_signature=[spec, tf.TensorSpec([], tf.int32)])
        def encode(image, iterations):
            return codec.encode(image, iterations, return_reconstructions=True)

        return encode

    def __call__(self, codec, context_model=None) -> tuple[dict[str, float], np.ndarray]:
        """Scalars (`eval/...`) and the image strip for the current weights."""
        if self._encode is None:
            self._encode = self._encoder(codec)
        structural = (metrics.ms_ssim_batch if self.structural == "ms_ssim"
                      else metrics.ssim_batch)
        psnr, struct, bits = [], [], []
        strip = None
        for image in self.images:
            codes, recons = self._encode(tf.constant(image[None]), tf.constant(self.iterations))
            recons = recons.numpy()[:, 0]
            psnr.append(metrics.psnr_batch(image, recons))
            struct.append(structural(image, recons))
            if context_model is not None:
                bits.append(float(context_model.cross_entropy_bits(codes)))
            if strip is None:
                shown = [t for t in STRIP_ITERATIONS if t <= self.iterations]
                strip = np.concatenate([image] + [recons[t - 1] for t in shown], axis=1)
        psnr_mean, struct_mean = np.mean(psnr, axis=0), np.mean(struct, axis=0)
        scalars = {}
        for t in range(self.iterations):
            scalars[f"eval/psnr_db/iter_{t + 1:02d}"] = float(psnr_mean[t])
            scalars[f"eval/{self.structural}/iter_{t + 1:02d}"] = float(struct_mean[t])
        if bits:
            scalars["eval/bits_per_code_bit"] = float(np.mean(bits))
        return scalars, strip
