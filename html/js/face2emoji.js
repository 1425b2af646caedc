// Face2Emoji: camera -> face-api tiny face detector -> 48x48 gray crop -> our model -> emoji.
// Classic script (no build step). State for learners and tests: window.face2emoji.
(function () {
  'use strict';

  // The course's classes (FER2013 order) and emoji; metadata.json normally supplies both.
  const COURSE_LABELS = ['Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral'];
  const COURSE_EMOJI = ['🤬', '🤢', '😱', '😄', '😢', '😲', '😐'];
  // face-api's expression names -> the course's class index (same seven expressions).
  const REFERENCE_CLASS = { angry: 0, disgusted: 1, fearful: 2, happy: 3, sad: 4, surprised: 5, neutral: 6 };
  const BACKENDS = ['wasm', 'webgl', 'cpu'];
  // Crop side = detector box * (1 + margin). The tiny face detector's box already spans brows to chin;
  // 0.1 makes the face fill the crop about as much as in FER2013 and the synthetic practice faces.
  const DEFAULT_MARGIN = 0.1;

  const params = new URLSearchParams(location.search);
  function numberParam(name, fallback) {
    if (!params.has(name)) return fallback;
    const value = Number(params.get(name));
    return Number.isFinite(value) ? value : fallback;
  }
  const modelParam = params.get('model') || 'models/face2emoji/';
  const options = {
    model: modelParam,
    modelUrl: new URL(modelParam.endsWith('.json') ? modelParam : modelParam.replace(/\/?$/, '/') + 'model.json',
      location.href).href,
    backend: BACKENDS.includes(params.get('backend')) ? params.get('backend') : 'wasm',
    margin: params.has('margin') ? numberParam('margin', DEFAULT_MARGIN) : null, // null: metadata or default
    detectorSize: numberParam('detector', 224), // tiny face detector input: multiple of 32
    minScore: numberParam('score', 0.5),
    recordEveryMs: numberParam('recordEvery', 150), // spacing of recorded crops: vary your face meanwhile
    fullFrame: params.get('fullframe') === '1', // run the detector on the full-size frame (slower)
  };

  const $ = (id) => document.getElementById(id);
  const video = $('video');
  const view = $('view');
  const frame = document.createElement('canvas'); // the analysed frame, unmirrored, at camera size
  const frameCtx = frame.getContext('2d', { willReadFrequently: true });

  // Everything worth inspecting lives here (console: `face2emoji.last`).
  const state = window.face2emoji = {
    ready: false, // camera + model running
    error: null, // the first readable error message, or null
    errors: [], // [{kind: 'setup'|'camera'|'model'|'backend'|'runtime', message}]
    stage: 'starting',
    backend: null,
    backendDetail: null,
    fps: 0,
    mode: params.get('mode') === 'snapshot' ? 'snapshot' : 'live',
    reference: params.get('reference') === '1',
    last: null, // {faces: [{box, probabilities, emoji, label, ...}] (left to right on screen), backend, fps, mode, ...}
    lastCrop: null, // 48*48 gray pixels (0..255) of the largest face in `last`, row by row
    lastCrops: [], // the same for every face of `last`, in the order of last.faces
    frames: 0,
    timings: null, // ms of the last frame: {detect, crop, model, total, faces}
    history: [], // the last 300 frame timings (benchmarks read these)
    metadata: null,
    labels: COURSE_LABELS.slice(),
    emoji: COURSE_EMOJI.slice(),
    preprocessing: null,
    margin: null,
    options: options,
    model: null,
    recorded: [], // [{emotion, pixels: number[2304]}]
    recording: null, // {label, remaining, total, lastAt}
    toCsv: toCsv,
    snapshot: () => takeSnapshot(),
    record: (label, count) => startRecording(label, count),
  };

  // ------------------------------------------------------------------ messages

  function setStatus(text, kind) {
    courseCamera.status($('status'), text, kind);
  }

  function fail(kind, message) {
    state.errors.push({ kind: kind, message: message });
    if (!state.error) state.error = message;
    state.stage = 'error';
    const box = $('status');
    box.className = 'status error';
    box.textContent = '';
    state.errors.forEach((e) => {
      const p = document.createElement('p');
      p.textContent = e.message;
      p.dataset.kind = e.kind;
      box.appendChild(p);
    });
  }

  function warn(text) {
    const p = document.createElement('div');
    p.className = 'status warn';
    p.textContent = text;
    $('warnings').appendChild(p);
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error(src));
      document.head.appendChild(s);
    });
  }

  // ------------------------------------------------------------------ tfjs backend

  /** Start `name` on face-api's bundled tfjs and prove it computes; returns false if it cannot. */
  async function tryBackend(tf, name) {
    try {
      if (name === 'wasm') {
        // face-api.js 1.7.15 already bundles tfjs-backend-wasm 4.22 (faceapi.tf.version has 'tfjs-backend-wasm'):
        // loading tf-backend-wasm.min.js as well would register its kernels twice. Only the .wasm files are needed.
        tf.setWasmPaths(new URL('vendor/', location.href).href);
      }
      if (!(await tf.setBackend(name))) return false;
      await tf.ready();
      if (tf.getBackend() !== name) return false;
      const check = tf.tidy(() => tf.tensor1d([1, 2, 3]).square().sum());
      const value = (await check.data())[0];
      check.dispose();
      return value === 14;
    } catch (error) {
      console.warn(`tfjs backend ${name} failed:`, error);
      return false;
    }
  }

  async function startBackend(tf) {
    const order = [options.backend].concat(BACKENDS.filter((b) => b !== options.backend));
    for (const name of order) {
      if (await tryBackend(tf, name)) {
        let detail = name;
        if (name === 'wasm') {
          const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
          const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
          detail = `wasm${simd ? ' + SIMD' : ''}${threads ? ' + threads' : ''}`;
        }
        if (name !== options.backend) {
          const hint = options.backend === 'wasm' ? ' (are the .wasm files in html/vendor/? run `make setup`)' : '';
          warn(`The ${options.backend} backend did not start in this browser${hint}; running on ${name} instead, ` +
            'which is slower here.');
        }
        return { name: name, detail: detail };
      }
    }
    throw new Error('no TensorFlow.js backend (wasm, webgl, cpu) could start in this browser');
  }

  // ------------------------------------------------------------------ our model

  async function loadOurModel(tf) {
    let response;
    try {
      response = await fetch(options.modelUrl, { cache: 'no-store' });
    } catch (error) {
      response = null;
    }
    if (!response || response.status === 404) {
      throw Object.assign(new Error(
        `The Face2Emoji model has not been exported yet: ${options.model}model.json is missing. ` +
        'Train it in notebook 04 (notebooks/04_face2emoji_training.ipynb) and export it with notebook 05 ' +
        '(notebooks/05_export_tfjs.ipynb), or run `make course`, which does both; then reload this page.'),
      { kind: 'model' });
    }
    if (!response.ok) {
      throw Object.assign(new Error(`Could not read ${options.model}model.json (HTTP ${response.status}).`),
        { kind: 'model' });
    }
    let model;
    try {
      model = await tf.loadGraphModel(options.modelUrl);
    } catch (error) {
      throw Object.assign(new Error(
        `The model in ${options.model} did not load (${error.message}). Re-export it with notebook 05 ` +
        '(aiffel_lib.export.export_tfjs writes a tfjs graph model) and reload.'), { kind: 'model' });
    }
    let metadata = null;
    try {
      const meta = await fetch(new URL('metadata.json', options.modelUrl).href, { cache: 'no-store' });
      if (meta.ok) metadata = await meta.json();
    } catch (error) {
      metadata = null;
    }
    return { model: model, metadata: metadata };
  }

  /** Fill state.labels/emoji/preprocessing/margin from metadata.json and the model's own shapes. */
  function configureFromMetadata(model, metadata, classes) {
    const inShape = model.inputs[0].shape; // [-1, 48, 48, 1]
    const size = [inShape[1], inShape[2]];
    if (!(size[0] > 0 && size[0] === size[1])) {
      throw Object.assign(new Error(`The model takes ${JSON.stringify(inShape)} inputs; this page needs square images.`),
        { kind: 'model' });
    }
    const channels = inShape[3];
    const prep = Object.assign({}, metadata && metadata.preprocessing);
    if (!metadata) {
      warn(`${options.model}metadata.json is missing: assuming raw gray pixels 0..255 and the FER2013 labels ` +
        '(the exporter\'s defaults). Re-export with notebook 05 so the page feeds the model exactly as in training.');
    }
    // model input = pixel (0..255) * scale + offset. export_tfjs writes scale/offset; a model that rescales
    // inside itself (the course's Face2Emoji: a Rescaling layer) states input_range [0, 255] instead.
    if (prep.scale === undefined && Array.isArray(prep.input_range) && prep.input_range.length === 2) {
      prep.scale = (prep.input_range[1] - prep.input_range[0]) / 255;
      prep.offset = prep.input_range[0];
    }
    if (typeof prep.scale !== 'number') prep.scale = 1;
    if (typeof prep.offset !== 'number') prep.offset = 0;
    prep.color = prep.color || (channels === 1 ? 'gray' : 'rgb');
    if (channels !== 1 || prep.color !== 'gray') {
      throw Object.assign(new Error(`This page feeds 48×48 gray faces; the model wants ${channels} channel(s) ` +
        `(${prep.color}). Export the Face2Emoji model from notebook 05.`), { kind: 'model' });
    }
    const labels = (metadata && metadata.labels) || (classes === 7 ? COURSE_LABELS : null);
    const emoji = (metadata && metadata.emoji) || (classes === 7 ? COURSE_EMOJI : null);
    if (!labels || labels.length !== classes) {
      throw Object.assign(new Error(`The model has ${classes} outputs but metadata.json names ` +
        `${labels ? labels.length : 'no'} labels.`), { kind: 'model' });
    }
    state.labels = labels.slice();
    state.emoji = (emoji && emoji.length === classes) ? emoji.slice() : labels.map(() => '❔');
    state.imageSize = size[0];
    state.preprocessing = prep;
    // Scores become probabilities here only if the model does not end in a softmax already
    // (unknown without metadata: decided from the warm-up output in main()).
    const activation = metadata && metadata.outputActivation;
    state.softmax = activation ? activation !== 'softmax' : null;
    const metaMargin = prep.faceMargin;
    state.margin = options.margin !== null ? options.margin
      : (typeof metaMargin === 'number' ? metaMargin : DEFAULT_MARGIN);
  }

  // ------------------------------------------------------------------ pixels

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

  /** 48x48 gray uint8 of the square crop from RGBA frame pixels, like
   *  cv2.resize(cv2.cvtColor(frame[y:y+s, x:x+s], cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA). */
  function grayCrop(rgba, n, out) {
    // rgba: the square crop's own n x n RGBA pixels (getImageData of the crop)
    const gray = new Float32Array(n * n);
    for (let r = 0; r < n; r++) {
      let i = r * n * 4;
      const row = r * n;
      for (let c = 0; c < n; c++, i += 4) {
        // OpenCV's fixed-point BT.601 luma, rounded to uint8 as cv2.cvtColor does.
        gray[row + c] = (rgba[i] * 4899 + rgba[i + 1] * 9617 + rgba[i + 2] * 1868 + 8192) >> 14;
      }
    }
    const taps = resizeWeights(n, out);
    const rows = new Float32Array(out * n); // resize along x first
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

  // ------------------------------------------------------------------ one frame

  let detectorOptions = null;
  const detectCanvas = document.createElement('canvas'); // the frame at the detector's size
  let busy = false;
  let lastStart = 0;

  function frameSource(source) {
    const width = source.videoWidth || source.naturalWidth || source.width;
    const height = source.videoHeight || source.naturalHeight || source.height;
    if (!width || !height) return null;
    if (frame.width !== width || frame.height !== height) {
      frame.width = width;
      frame.height = height;
    }
    frameCtx.drawImage(source, 0, 0, width, height);
    return { width: width, height: height };
  }

  function softmax(values) {
    const max = Math.max.apply(null, values);
    const exps = values.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((v) => v / total);
  }

  /** Analyse one frame from `source` (the <video>, an <img> or a canvas); updates state.last and the screen. */
  async function analyse(source, mode) {
    const tf = faceapi.tf;
    const t0 = performance.now();
    const size = frameSource(source);
    if (!size) return null;
    const wantReference = state.reference && faceapi.nets.faceExpressionNet.isLoaded;
    let found;
    const shrink = options.detectorSize / Math.max(size.width, size.height);
    if (!wantReference && !options.fullFrame && shrink < 1) {
      // The detector shrinks its input to detectorSize anyway: shrinking the frame first on a canvas spares
      // tfjs a full-size pixel read and resize. (face-api's expression model crops faces from the detector's
      // input, so with the reference on, the detector gets the full frame.)
      detectCanvas.width = Math.round(size.width * shrink);
      detectCanvas.height = Math.round(size.height * shrink);
      detectCanvas.getContext('2d').drawImage(frame, 0, 0, detectCanvas.width, detectCanvas.height);
      found = (await faceapi.detectAllFaces(detectCanvas, detectorOptions))
        .map((d) => d.forSize(size.width, size.height));
    } else {
      let task = faceapi.detectAllFaces(frame, detectorOptions);
      if (wantReference) task = task.withFaceExpressions();
      found = await task;
    }
    const t1 = performance.now();

    // Sorted left to right as shown on screen (mirrored or not), so face #1 is the leftmost one you see.
    const mirrored = $('mirror').checked;
    const detections = found.map((d) => (d.detection ? { det: d.detection, expressions: d.expressions } : { det: d }))
      .sort((a, b) => (mirrored ? b.det.box.x - a.det.box.x : a.det.box.x - b.det.box.x));
    const n = state.imageSize;
    const crops = detections.map((d) => cropSquare(d.det.box, size.width, size.height, state.margin));
    const pixels = crops.map((c) => grayCrop(frameCtx.getImageData(c.x, c.y, c.size, c.size).data, c.size, n));
    const t2 = performance.now();

    let probabilities = [];
    if (pixels.length) {
      const prep = state.preprocessing;
      const input = new Float32Array(pixels.length * n * n);
      pixels.forEach((p, f) => {
        for (let i = 0; i < p.length; i++) input[f * n * n + i] = p[i] * prep.scale + prep.offset;
      });
      const x = tf.tensor4d(input, [pixels.length, n, n, 1]);
      const y = state.model.predict(x);
      const values = await y.data();
      x.dispose();
      y.dispose();
      const classes = values.length / pixels.length;
      for (let f = 0; f < pixels.length; f++) {
        const row = Array.from(values.subarray(f * classes, (f + 1) * classes));
        probabilities.push(state.softmax ? softmax(row) : row);
      }
    }
    const t3 = performance.now();

    const faces = detections.map((d, i) => {
      const p = probabilities[i];
      const best = p.indexOf(Math.max.apply(null, p));
      const box = d.det.box;
      const face = {
        box: { x: box.x, y: box.y, width: box.width, height: box.height },
        score: d.det.score,
        crop: crops[i],
        probabilities: p,
        classIndex: best,
        label: state.labels[best],
        emoji: state.emoji[best],
      };
      if (d.expressions) {
        const names = Object.keys(REFERENCE_CLASS);
        const refProbs = {};
        names.forEach((name) => { refProbs[name] = d.expressions[name] || 0; });
        const top = names.reduce((a, b) => (refProbs[b] > refProbs[a] ? b : a));
        face.reference = { label: top, emoji: COURSE_EMOJI[REFERENCE_CLASS[top]], probability: refProbs[top],
          probabilities: refProbs };
      }
      return face;
    });
    let largest = -1;
    faces.forEach((f, i) => {
      if (largest < 0 || f.crop.size > faces[largest].crop.size) largest = i;
    });

    drawView(faces, size);
    showFaces(faces);
    const now = performance.now();
    if (mode === 'live') {
      // Frame rate from the starts of successive analyses: everything counts, waiting for the camera included.
      if (lastStart) {
        const instant = 1000 / Math.max(t0 - lastStart, 1e-3);
        state.fps = state.fps ? 0.9 * state.fps + 0.1 * instant : instant;
      }
      lastStart = t0;
    }
    const timings = { detect: t1 - t0, crop: t2 - t1, model: t3 - t2, draw: now - t3, total: now - t0,
      faces: faces.length, reference: Boolean(wantReference) };
    state.frames += 1;
    state.timings = timings;
    state.history.push(Object.assign({ at: t0, mode: mode }, timings));
    if (state.history.length > 300) state.history.shift();
    // One assignment each, in the same turn: `last` and the crops always describe the same frame.
    state.lastCrops = pixels.map((p) => Array.from(p));
    state.lastCrop = largest >= 0 ? state.lastCrops[largest] : null;
    state.last = { faces: faces, backend: state.backend, fps: Math.round(state.fps * 10) / 10, mode: mode,
      frame: size, largest: largest, time: t0 };
    if (state.recording && largest >= 0) recordCrop(pixels[largest]);
    $('fps').textContent = mode === 'live' ? `${state.fps.toFixed(1)} FPS` : `snapshot: ${timings.total.toFixed(0)} ms`;
    return state.last;
  }

  // ------------------------------------------------------------------ drawing

  function drawView(faces, size) {
    const ctx = view.getContext('2d');
    if (view.width !== size.width || view.height !== size.height) {
      view.width = size.width;
      view.height = size.height;
    }
    const mirror = $('mirror').checked;
    ctx.save();
    if (mirror) ctx.setTransform(-1, 0, 0, 1, size.width, 0);
    ctx.drawImage(frame, 0, 0);
    ctx.restore();
    const emojiSize = Math.max(24, Math.round(size.width / 14));
    faces.forEach((f, i) => {
      const c = f.crop;
      const x = mirror ? size.width - c.x - c.size : c.x;
      ctx.lineWidth = 3;
      ctx.strokeStyle = '#ffd33d';
      ctx.strokeRect(x, c.y, c.size, c.size);
      ctx.font = `${emojiSize}px sans-serif`;
      ctx.textBaseline = 'bottom';
      ctx.fillText(f.emoji, x, Math.max(emojiSize, c.y));
      ctx.font = `${Math.round(emojiSize / 2)}px sans-serif`;
      ctx.fillStyle = '#ffd33d';
      ctx.fillText(`#${i + 1}`, x + c.size - emojiSize * 0.8, c.y + c.size);
    });
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** A column: title, big emoji, caption and one probability bar per class. Built once, updated per frame. */
  function makeColumn(className, title, names) {
    const column = el('div', 'model ' + className);
    column.append(el('div', 'who', title));
    const big = el('div', 'big-emoji');
    const caption = el('div', 'caption');
    column.append(big, caption);
    const rows = names.map((name) => {
      const row = el('div', 'bar');
      const fill = el('span', 'bar-fill');
      const track = el('span', 'bar-track');
      track.appendChild(fill);
      const value = el('span', 'bar-value');
      row.append(el('span', 'bar-label', name), track, value);
      column.appendChild(row);
      return { row: row, fill: fill, value: value };
    });
    return { node: column, big: big, caption: caption, rows: rows };
  }

  function updateColumn(column, emoji, caption, values, best) {
    column.big.textContent = emoji;
    column.caption.textContent = caption;
    column.rows.forEach((r, i) => {
      const pct = `${(100 * values[i]).toFixed(1)}%`;
      r.fill.style.width = pct;
      r.value.textContent = pct;
      r.row.className = i === best ? 'bar best' : 'bar';
    });
  }

  // Face-api's expression names in the course's class order, so both columns line up.
  const REFERENCE_NAMES = Object.keys(REFERENCE_CLASS).sort((a, b) => REFERENCE_CLASS[a] - REFERENCE_CLASS[b]);
  const cards = []; // one per face slot: {node, ours, reference}
  let noFaceCard = null;

  function showFaces(faces) {
    const box = $('faces');
    if (!faces.length) {
      if (!noFaceCard) {
        noFaceCard = el('div', 'face-card no-face');
        noFaceCard.append(el('div', 'big-emoji', '🙈'), el('div', 'no-face-text', 'No face found'),
          el('div', 'hint', 'Face the camera with light on your face; the detector needs a face of about ' +
            '40 pixels or more.'));
      }
      if (box.firstChild !== noFaceCard || box.childNodes.length !== 1) box.replaceChildren(noFaceCard);
      box.className = 'faces none';
      return;
    }
    box.className = 'faces';
    while (cards.length < faces.length) {
      const ours = makeColumn('ours', '', state.labels.map((l, k) => `${state.emoji[k]} ${l}`));
      const reference = makeColumn('reference', "face-api's expression model",
        REFERENCE_NAMES.map((nm) => `${COURSE_EMOJI[REFERENCE_CLASS[nm]]} ${nm}`));
      const node = el('div', 'face-card');
      node.append(ours.node);
      cards.push({ node: node, ours: ours, reference: reference });
    }
    faces.forEach((f, i) => {
      const card = cards[i];
      card.ours.node.firstChild.textContent = `face #${i + 1} · our model`;
      card.ours.big.title = f.label;
      updateColumn(card.ours, f.emoji, `${f.label} ${(100 * f.probabilities[f.classIndex]).toFixed(0)}%`,
        f.probabilities, f.classIndex);
      if (f.reference) {
        const ref = f.reference;
        updateColumn(card.reference, ref.emoji, `${ref.label} ${(100 * ref.probability).toFixed(0)}%`,
          REFERENCE_NAMES.map((nm) => ref.probabilities[nm]), REFERENCE_NAMES.indexOf(ref.label));
        if (card.reference.node.parentNode !== card.node) card.node.appendChild(card.reference.node);
      } else if (card.reference.node.parentNode === card.node) {
        card.reference.node.remove();
      }
    });
    const wanted = cards.slice(0, faces.length).map((c) => c.node);
    const current = Array.from(box.childNodes);
    if (current.length !== wanted.length || current.some((node, i) => node !== wanted[i])) box.replaceChildren(...wanted);
  }

  // ------------------------------------------------------------------ live loop and snapshot

  // The loop analyses each new camera frame once (not the same frame again and again), so FPS means
  // distinct camera frames analysed per second: at most the camera's own rate.
  let cameraFrames = 0; // frames the camera has delivered (requestVideoFrameCallback)
  let analysedFrame = -1; // cameraFrames when the last analysis started
  let generation = 0; // bumped by every (re)start: an older loop sees it and stops
  let wakeUp = null; // set while the loop sleeps until the next camera frame

  function countCameraFrames() {
    if (!('requestVideoFrameCallback' in video)) return;
    const onFrame = () => {
      cameraFrames += 1;
      video.requestVideoFrameCallback(onFrame);
      if (wakeUp) wakeUp();
    };
    video.requestVideoFrameCallback(onFrame);
  }

  /** Resolves when a camera frame the loop has not analysed yet is available. */
  function nextFrame(startedAt) {
    return new Promise((resolve) => {
      if (!('requestVideoFrameCallback' in video)) {
        requestAnimationFrame(() => resolve());
        return;
      }
      // Frame callbacks only run at the next rendering step, so a frame that arrived while we were busy
      // is not counted yet: if the analysis took longer than one camera frame, a new one is surely there.
      if (cameraFrames !== analysedFrame || performance.now() - startedAt >= framePeriodMs()) {
        setTimeout(resolve, 0);
        return;
      }
      // Some browsers pause frame callbacks for a video out of sight: never sleep more than 250 ms.
      const timer = setTimeout(() => { wakeUp = null; resolve(); }, 250);
      wakeUp = () => { wakeUp = null; clearTimeout(timer); resolve(); };
    });
  }

  function framePeriodMs() {
    const track = video.srcObject && video.srcObject.getVideoTracks && video.srcObject.getVideoTracks()[0];
    const rate = track && track.getSettings ? track.getSettings().frameRate : 0;
    return rate > 0 ? 1000 / rate : 1000 / 30;
  }

  async function loop(id) {
    while (id === generation && state.mode === 'live' && state.stage === 'running') {
      if (busy || video.readyState < 2) { // a snapshot in progress, or the camera not ready yet
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      busy = true;
      analysedFrame = cameraFrames;
      const startedAt = performance.now();
      try {
        await analyse(video, 'live');
      } catch (error) {
        console.error(error);
        fail('runtime', `Analysing the frame failed: ${error.message}`);
        return;
      } finally {
        busy = false;
      }
      await nextFrame(startedAt);
    }
  }

  async function takeSnapshot(source) {
    while (busy) await new Promise((r) => setTimeout(r, 5));
    busy = true;
    try {
      return await analyse(source || video, 'snapshot');
    } finally {
      busy = false;
    }
  }

  function setMode(mode) {
    state.mode = mode;
    document.querySelectorAll('input[name=mode]').forEach((r) => { r.checked = r.value === mode; });
    $('snap').disabled = !(state.stage === 'running' && mode === 'snapshot');
    if (mode === 'live') {
      lastStart = 0;
      state.fps = 0;
      generation += 1;
      loop(generation);
    } else {
      generation += 1;
      $('fps').textContent = 'snapshot mode';
    }
  }

  async function setReference(on) {
    state.reference = on;
    $('reference').checked = on;
    if (on && !faceapi.nets.faceExpressionNet.isLoaded) {
      try {
        await faceapi.nets.faceExpressionNet.loadFromUri('vendor/face-api-models');
      } catch (error) {
        warn(`face-api's expression model did not load (${error.message}): run \`make setup\`.`);
        state.reference = false;
        $('reference').checked = false;
      }
    }
  }

  // ------------------------------------------------------------------ record mode

  function setupRecordPanel() {
    const select = $('record-label');
    select.textContent = '';
    state.labels.forEach((label, i) => {
      const option = document.createElement('option');
      option.value = String(i);
      option.textContent = `${i} ${state.emoji[i]} ${label}`;
      select.appendChild(option);
    });
  }

  function startRecording(label, count) {
    const idx = Number(label);
    const total = Math.max(1, Math.floor(Number(count) || 1));
    if (!Number.isInteger(idx) || idx < 0 || idx >= state.labels.length) {
      throw new Error(`label must be a class index 0..${state.labels.length - 1}`);
    }
    state.recording = { label: idx, remaining: total, total: total, lastAt: 0 };
    $('record').disabled = true;
    $('record-info').textContent = `Recording ${total} faces as ${state.emoji[idx]} ${state.labels[idx]}… hold the expression.`;
    if (state.mode !== 'live') setMode('live');
    return state.recording;
  }

  function recordCrop(pixels) {
    const rec = state.recording;
    const now = performance.now();
    if (rec.lastAt && now - rec.lastAt < options.recordEveryMs) return;
    rec.lastAt = now;
    state.recorded.push({ emotion: rec.label, pixels: Array.from(pixels) });
    rec.remaining -= 1;
    addThumb(pixels, rec.label);
    if (rec.remaining <= 0) {
      state.recording = null;
      $('record').disabled = false;
    }
    updateRecordInfo();
  }

  function addThumb(pixels, label) {
    const n = state.imageSize;
    const c = document.createElement('canvas');
    c.width = n;
    c.height = n;
    c.title = state.labels[label];
    const img = c.getContext('2d').createImageData(n, n);
    for (let i = 0; i < pixels.length; i++) {
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = pixels[i];
      img.data[4 * i + 3] = 255;
    }
    c.getContext('2d').putImageData(img, 0, 0);
    const thumbs = $('record-thumbs');
    thumbs.appendChild(c);
    while (thumbs.childNodes.length > 60) thumbs.removeChild(thumbs.firstChild);
  }

  function updateRecordInfo() {
    const counts = state.labels.map(() => 0);
    state.recorded.forEach((r) => { counts[r.emotion] += 1; });
    const parts = counts.map((c, i) => (c ? `${state.emoji[i]} ${state.labels[i]}: ${c}` : null)).filter(Boolean);
    const rec = state.recording;
    const progress = rec ? `Recording ${state.emoji[rec.label]} ${rec.total - rec.remaining}/${rec.total}… ` : '';
    $('record-info').textContent = progress + (state.recorded.length
      ? `${state.recorded.length} faces recorded (${parts.join(', ')}).` : 'No faces recorded yet.');
    $('download').disabled = !state.recorded.length;
    $('clear').disabled = !state.recorded.length;
  }

  /** The recorded faces as FER2013's CSV: header `emotion,pixels,Usage`, pixels space-separated row by row. */
  function toCsv() {
    const lines = ['emotion,pixels,Usage'];
    state.recorded.forEach((r) => lines.push(`${r.emotion},${r.pixels.join(' ')},Training`));
    return lines.join('\n') + '\n';
  }

  function downloadCsv() {
    const blob = new Blob([toCsv()], { type: 'text/csv' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = 'face2emoji_recorded.csv';
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  // ------------------------------------------------------------------ start

  function wireControls() {
    document.querySelectorAll('input[name=mode]').forEach((r) => {
      r.addEventListener('change', () => { if (r.checked) setMode(r.value); });
    });
    $('snap').addEventListener('click', () => takeSnapshot(video));
    $('file').addEventListener('change', (event) => {
      const file = event.target.files && event.target.files[0];
      if (!file) return;
      const img = new Image();
      img.onload = () => {
        setMode('snapshot');
        takeSnapshot(img).finally(() => URL.revokeObjectURL(img.src));
      };
      img.onerror = () => warn(`${file.name} is not an image this browser can read.`);
      img.src = URL.createObjectURL(file);
    });
    $('reference').addEventListener('change', (e) => setReference(e.target.checked));
    $('mirror').addEventListener('change', () => {
      if (state.last && state.mode === 'snapshot') drawView(state.last.faces, state.last.frame);
    });
    $('record').addEventListener('click', () => startRecording($('record-label').value, $('record-count').value));
    $('download').addEventListener('click', downloadCsv);
    $('clear').addEventListener('click', () => {
      state.recorded = [];
      state.recording = null;
      $('record').disabled = state.stage !== 'running';
      $('record-thumbs').textContent = '';
      updateRecordInfo();
    });
  }

  async function main() {
    wireControls();
    // The camera starts while the libraries and models load; either may fail on its own.
    setStatus('Starting the camera and loading the models…', 'info');
    const camera = courseCamera.start(video).then(() => true, (error) => {
      fail('camera', error.friendly || courseCamera.explain(error));
      return false;
    });
    let modelOk = false;
    try {
      try {
        await loadScript('vendor/face-api.js');
      } catch (error) {
        throw Object.assign(new Error('vendor/face-api.js did not load: html/vendor/ is missing. Run `make setup` ' +
          '(or `bash scripts/setup.sh`), which copies face-api and TensorFlow.js from npm, then reload.'),
          { kind: 'setup' });
      }
      const tf = faceapi.tf;
      const backend = await startBackend(tf);
      state.backend = backend.name;
      state.backendDetail = backend.detail;
      $('backend').textContent = `tfjs ${tf.version.tfjs} on ${backend.detail}`;
      try {
        await faceapi.nets.tinyFaceDetector.loadFromUri('vendor/face-api-models');
      } catch (error) {
        throw Object.assign(new Error('The face detector (vendor/face-api-models/tiny_face_detector_model) did not ' +
          'load: run `make setup`, then reload.'), { kind: 'setup' });
      }
      detectorOptions = new faceapi.TinyFaceDetectorOptions({ inputSize: options.detectorSize, scoreThreshold: options.minScore });
      const loaded = await loadOurModel(tf);
      state.model = loaded.model;
      state.metadata = loaded.metadata;
      // Warm-up: the first call compiles kernels and would spoil the first frames' timings. It also tells the
      // number of classes (a graph model's signature does not always carry its output shape).
      const inShape = loaded.model.inputs[0].shape;
      const warm = tf.zeros([1, inShape[1], inShape[2], inShape[3]]);
      const y = state.model.predict(warm);
      const warmOut = await y.data();
      configureFromMetadata(loaded.model, loaded.metadata, warmOut.length);
      setupRecordPanel();
      if (state.softmax === null) {
        const total = warmOut.reduce((a, b) => a + b, 0);
        state.softmax = !(warmOut.every((v) => v >= 0) && Math.abs(total - 1) < 1e-3);
      }
      warm.dispose();
      y.dispose();
      if (state.reference) await setReference(true);
      modelOk = true;
    } catch (error) {
      console.error(error);
      fail(error.kind || 'setup', error.message);
    }
    const cameraOk = await camera;
    // A photo file still works without a camera, as long as the model is there.
    $('file').disabled = !modelOk;
    if (!modelOk) return;
    state.stage = 'running';
    $('record').disabled = !cameraOk;
    if (!cameraOk) {
      // No live view without a camera; photo files still go through the whole pipeline.
      state.mode = 'snapshot';
      document.querySelectorAll('input[name=mode]').forEach((r) => {
        r.checked = r.value === 'snapshot';
        r.disabled = true;
      });
      return;
    }
    state.ready = true;
    countCameraFrames();
    const model = state.metadata && state.metadata.modelName ? state.metadata.modelName : 'face2emoji';
    setStatus(`Camera ${video.videoWidth}×${video.videoHeight} · model "${model}" (${state.labels.length} classes, ` +
      `${state.imageSize}×${state.imageSize} gray, margin ${state.margin}) · ${state.backendDetail}.`, 'ok');
    setMode(state.mode);
  }

  main();
})();
