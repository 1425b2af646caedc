// Face crops as the models were trained on them (classic script: defines window.faceCrop).
// A detector box -> a square with a margin -> gray (OpenCV's BT.601 weights) -> N x N by area
// averaging, exactly as aiffel_lib.facecrop does in Python (cv2.COLOR_RGB2GRAY + cv2.INTER_AREA).
(function () {
  'use strict';

  /** The square crop (integer pixels) for a detector box: centred on the box, side = max(w, h) * (1 + margin),
   *  moved (not cut) to stay inside the frame, so the face keeps its proportions. */
  function cropSquare(box, width, height, margin) {
    let side = Math.round(Math.max(box.width, box.height) * (1 + margin));
    side = Math.max(1, Math.min(side, width, height));
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    const x = Math.min(Math.max(Math.round(cx - side / 2), 0), width - side);
    const y = Math.min(Math.max(Math.round(cy - side / 2), 0), height - side);
    return { x: x, y: y, size: side };
  }

  /** For a 1-D resize src -> dst: per output pixel, the source pixels and weights (summing to 1).
   *  Shrinking averages the covered source area, fractions included (cv2.INTER_AREA); enlarging is
   *  linear interpolation between pixel centres (what INTER_AREA does when enlarging). */
  const weightCache = new Map();
  function resizeWeights(src, dst) {
    const key = src + ':' + dst;
    if (weightCache.has(key)) return weightCache.get(key);
    const table = [];
    const scale = src / dst;
    for (let d = 0; d < dst; d++) {
      const taps = [];
      if (scale >= 1) {
        const f0 = d * scale;
        const f1 = f0 + scale;
        for (let s = Math.floor(f0); s < Math.min(Math.ceil(f1), src); s++) {
          const w = Math.min(f1, s + 1) - Math.max(f0, s);
          if (w > 1e-9) taps.push([s, w / scale]);
        }
      } else {
        const f = Math.min(Math.max((d + 0.5) * scale - 0.5, 0), src - 1);
        const s0 = Math.floor(f);
        const t = f - s0;
        taps.push([s0, 1 - t]);
        if (t > 0 && s0 + 1 < src) taps.push([s0 + 1, t]);
      }
      table.push(taps);
    }
    if (weightCache.size > 64) weightCache.clear();
    weightCache.set(key, table);
    return table;
  }

  /** n x n RGBA pixels (getImageData of the square) -> n*n gray values 0..255, rounded as cv2.cvtColor does. */
  function toGray(rgba, n) {
    const gray = new Float32Array(n * n);
    for (let i = 0, j = 0; j < gray.length; i += 4, j++) {
      // OpenCV's fixed-point BT.601 luma: (4899 R + 9617 G + 1868 B + 2^13) >> 14.
      gray[j] = (rgba[i] * 4899 + rgba[i + 1] * 9617 + rgba[i + 2] * 1868 + 8192) >> 14;
    }
    return gray;
  }

  /** n x n gray -> out x out uint8, separable: along x first, then along y (as cv2.resize INTER_AREA). */
  function resizeGray(gray, n, out) {
    const taps = resizeWeights(n, out);
    const rows = new Float32Array(out * n);
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < out; c++) {
        let sum = 0;
        for (const [s, w] of taps[c]) sum += gray[r * n + s] * w;
        rows[c * n + r] = sum; // stored transposed: column c, source row r
      }
    }
    const pixels = new Uint8ClampedArray(out * out);
    for (let c = 0; c < out; c++) {
      for (let r = 0; r < out; r++) {
        let sum = 0;
        for (const [s, w] of taps[r]) sum += rows[c * n + s] * w;
        pixels[r * out + c] = Math.round(sum);
      }
    }
    return pixels;
  }

  /** out x out gray uint8 of the n x n RGBA square, like
   *  cv2.resize(cv2.cvtColor(square, cv2.COLOR_RGB2GRAY), (out, out), interpolation=cv2.INTER_AREA). */
  function grayCrop(rgba, n, out) {
    return resizeGray(toGray(rgba, n), n, out);
  }

  window.faceCrop = { cropSquare: cropSquare, toGray: toGray, resizeGray: resizeGray, grayCrop: grayCrop };
})();
