"""Draw a tile seam at high zoom: bench/results/tiling/seam-IMAGE-kK.png.

Usage (from the repository root, ../shared beside it):
    python bench/results/tiling/seam.py kodim23 4

Left to right: the original, whole-image coding, tiled coding (512 px tiles: the seam is the
vertical line x = 512 in the middle of each panel), each a 96 x 96 crop centred on the seam
at the image's middle row, magnified 4x (nearest neighbour). `default-v1` model (then shipped
as `default`), K iterations, entropy-coded files as `tfrnn compress` writes them.
"""

import sys

import numpy as np
from PIL import Image

from tfrnn.bench.results import shared_path
from tfrnn.codec import load_codec
from tfrnn.images import load_image, save_png

name, k = sys.argv[1], int(sys.argv[2])
image = load_image(shared_path("data", "kodak", f"{name}.png"))
codec = load_codec("default-v1")
panels = [image]
for tile in (0, 512):
    data = codec.compress(image, k, tile=tile)
    panels.append(codec.decompress(data))
    print(f"tile {tile}: {8 * len(data) / (image.shape[0] * image.shape[1]):.4f} bpp")
y, x = image.shape[0] // 2 - 48, 512 - 48
crops = [np.asarray(Image.fromarray(p[y:y + 96, x:x + 96]).resize((384, 384), Image.NEAREST))
         for p in panels]
gap = np.full((384, 8, 3), 255, np.uint8)
out = f"bench/results/tiling/seam-{name}-k{k}.png"
save_png(out, np.concatenate([crops[0], gap, crops[1], gap, crops[2]], axis=1))
print(out)
