// Face2Emoji: camera -> face detector -> gray face crops -> the learner's model (and the FER2013 model) -> emoji.
// Classic scripts, no build step: js/tfjs-setup.js (tfjs + backend), js/facedetect.js (where the faces are),
// js/facecrop.js (crops as in training), this file (models, screen, live loop, record mode).
// State for learners and tests: window.face2emoji.
(function () {
  'use strict';

  // The course's classes (FER2013 order) and emoji; metadata.json normally supplies both.
  const COURSE_LABELS = ['Angry', 'Disgust', 'Fear', 'Happy', 'Sad', 'Surprise', 'Neutral'];
  const COURSE_EMOJI = ['🤬', '🤢', '😱', '😄', '😢', '😲', '😐'];
  // face-api's expression names -> the course's class index (same seven expressions).
  const FACEAPI_CLASS = { angry: 0, disgusted: 1, fearful: 2, happy: 3, sad: 4, surprised: 5, neutral: 6 };
  // Crop side = detector box * (1 + margin). The tiny face detector's box already spans brows to chin;
  // 0.1 makes the face fill the crop about as much as in FER2013 and the synthetic practice faces.
  const DEFAULT_MARGIN = 0.1;
  const LEARNER = 'learner';
  const FER2013 = 'fer2013';

  const params = new URLSearchParams(location.search);
  function numberParam(name, fallback) {
    if (!params.has(name)) return fallback;
    const value = Number(params.get(name));
    return Number.isFinite(value) ? value : fallback;
  }
  function modelDir(param) {
    return param.endsWith('.json') ? param.replace(/[^/]*$/, '') : param.replace(/\/?$/, '/');
  }
  function modelJson(param) {
    return new URL(param.endsWith('.json') ? param : modelDir(param) + 'model.json', location.href).href;
  }
  const modelParam = params.get('model') || 'models/face2emoji/';
  const ferParam = params.get('reference_model') || 'models/fer2013/';
  const options = {
    model: modelDir(modelParam),
    modelUrl: modelJson(modelParam),
    ferModel: modelDir(ferParam), // the FER2013-trained model shown beside the learner's
    ferModelUrl: modelJson(ferParam),
    side: params.has('side') ? params.get('side') === '1' : null, // null: decided by the real-face figures
    big: [LEARNER, FER2013].includes(params.get('big')) ? params.get('big') : null,
    backend: courseTf.BACKENDS.includes(params.get('backend')) ? params.get('backend') : 'wasm',
    margin: params.has('margin') ? numberParam('margin', DEFAULT_MARGIN) : null, // null: metadata or default
    detector: {
      size: numberParam('detector', 416), // live detector input (multiple of 32)
      every: numberParam('detectEvery', 2), // live: run the detector on every n-th frame, reuse its boxes between
      still: (params.get('still') || '512,608').split(',').map(Number), // snapshot/photo: inputs, merged
      score: numberParam('score', 0.4),
      shrink: params.get('fullframe') !== '1', // fullframe=1: the detector gets the full-size frame
    },
    recordEveryMs: numberParam('recordEvery', 150), // spacing of recorded crops: vary your face meanwhile
  };

  const $ = (id) => document.getElementById(id);
  const video = $('video');
  const view = $('view');
  const frame = document.createElement('canvas'); // the analysed frame, unmirrored, at camera/photo size
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
    reference: params.get('reference') === '1', // face-api's own expression model as a third column
    sideBySide: false, // the FER2013 model's column shown (and run)
    bigModel: LEARNER, // whose emoji is shown big: 'learner' or 'fer2013'
    note: '', // the sentence saying which models are shown and why
    realFaces: null, // the learner's real-face evaluation from its metadata.json, if any
    last: null, // {faces: [{box, probabilities, emoji, label, fer2013, reference, shown, ...}] (left to right), backend, fps, mode, ...}
    lastCrop: null, // the learner model's input pixels (0..255) of the largest face in `last`, row by row
    lastCrops: [], // the same for every face of `last`, in the order of last.faces
    lastModelCrops: {}, // per model ('learner', 'fer2013'): its input pixels for every face of `last`
    frames: 0, // frames analysed
    cameraFrames: 0, // frames the camera delivered (where the browser reports them)
    timings: null, // ms of the last frame: {detect, crop, model, draw, total, faces, detected, models: {...}}
    history: [], // the last 300 frame timings (benchmarks read these)
    models: {}, // 'learner' and, when exported, 'fer2013': {dir, metadata, imageSize, labels, emoji, ...}
    metadata: null, // the learner model's metadata.json
    labels: COURSE_LABELS.slice(),
    emoji: COURSE_EMOJI.slice(),
    preprocessing: null,
    margin: null,
    imageSize: null,
    softmax: null,
    options: options,
    detector: null,
    model: null,
    recorded: [], // [{emotion, pixels: number[size*size]}]
    recording: null, // {label, remaining, total, lastAt}
    toCsv: toCsv,
    snapshot: () => takeSnapshot(),
    record: (label, count) => startRecording(label, count),
    setBig: (name) => setBig(name),
    setSideBySide: (on) => setSideBySide(on),
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

  function modelError(message) {
    return Object.assign(new Error(message), { kind: 'model' });
  }

  // ------------------------------------------------------------------ the models

  /** {model, metadata} of the graph model at `url`, or null when its model.json does not exist. */
  async function fetchModel(tf, url, dir) {
    const response = await courseTf.fetchFresh(url);
    if (!response || response.status === 404) return null;
    if (!response.ok) throw modelError(`Could not read ${dir}model.json (HTTP ${response.status}).`);
    let model;
    try {
      model = await tf.loadGraphModel(url);
    } catch (error) {
      throw modelError(`The model in ${dir} did not load (${error.message}). Re-export it ` +
        '(aiffel_lib.export.export_tfjs writes a tfjs graph model) and reload.');
    }
    let metadata = null;
    const meta = await courseTf.fetchFresh(new URL('metadata.json', url).href);
    try {
      if (meta && meta.ok) metadata = await meta.json();
    } catch (error) {
      warn(`${dir}metadata.json is not valid JSON (${error.message}): re-export the model.`);
    }
    return { model: model, metadata: metadata };
  }

  /**
   * A model entry: how to feed it and read it, from metadata.json and the model's own shapes.
   * The first call compiles kernels (a warm-up that would spoil the first frames' timings) and tells the
   * number of classes (a graph model's signature does not always carry its output shape).
   */
  async function describeModel(tf, key, dir, loaded) {
    const { model, metadata } = loaded;
    const inShape = model.inputs[0].shape; // [-1, 48, 48, 1]
    const size = inShape[1];
    if (!(size > 0 && size === inShape[2])) {
      throw modelError(`The model in ${dir} takes ${JSON.stringify(inShape)} inputs; this page needs square images.`);
    }
    const warm = tf.zeros([1, size, size, inShape[3]]);
    const y = model.predict(warm);
    const warmOut = await y.data();
    warm.dispose();
    y.dispose();
    const classes = warmOut.length;
    const channels = inShape[3];
    const prep = Object.assign({}, metadata && metadata.preprocessing);
    if (!metadata) {
      warn(`${dir}metadata.json is missing: assuming raw gray pixels 0..255 and the FER2013 labels ` +
        '(the exporter\'s defaults). Re-export it so the page feeds the model exactly as in training.');
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
      throw modelError(`This page feeds ${size}×${size} gray faces; the model in ${dir} wants ${channels} ` +
        `channel(s) (${prep.color}). Export a Face2Emoji model (notebook 05).`);
    }
    const labels = (metadata && metadata.labels) || (classes === 7 ? COURSE_LABELS : null);
    const emoji = (metadata && metadata.emoji) || (classes === 7 ? COURSE_EMOJI : null);
    if (!labels || labels.length !== classes) {
      throw modelError(`The model in ${dir} has ${classes} outputs but metadata.json names ` +
        `${labels ? labels.length : 'no'} labels.`);
    }
    // Scores become probabilities here only if the model does not end in a softmax already
    // (without metadata: decided from the warm-up output, which sums to 1 after a softmax).
    const activation = metadata && metadata.outputActivation;
    const total = warmOut.reduce((a, b) => a + b, 0);
    const softmax = activation ? activation !== 'softmax'
      : !(warmOut.every((v) => v >= 0) && Math.abs(total - 1) < 1e-3);
    const metaMargin = prep.faceMargin;
    const user = (metadata && metadata.userMetadata) || {};
    return {
      key: key, dir: dir, model: model, metadata: metadata, imageSize: size, labels: labels.slice(),
      emoji: (emoji && emoji.length === classes) ? emoji.slice() : labels.map(() => '❔'),
      preprocessing: prep, softmax: softmax,
      margin: options.margin !== null ? options.margin : (typeof metaMargin === 'number' ? metaMargin : DEFAULT_MARGIN),
      name: (metadata && metadata.modelName) || key, trainedOn: user.trainedOn || null,
      realFaces: user.realFaces && typeof user.realFaces === 'object' ? user.realFaces : null,
    };
  }

  async function loadLearnerModel(tf) {
    const loaded = await fetchModel(tf, options.modelUrl, options.model);
    if (!loaded) {
      throw modelError(`The Face2Emoji model has not been exported yet: ${options.model}model.json is missing. ` +
        'Train it in notebook 04 (notebooks/04_face2emoji_training.ipynb) and export it with notebook 05 ' +
        '(notebooks/05_export_tfjs.ipynb), or run `make course`, which does both; then reload this page.');
    }
    const entry = await describeModel(tf, LEARNER, options.model, loaded);
    state.models[LEARNER] = entry;
    // The learner's model also at the top level of the state, where the page has always kept it.
    ['model', 'metadata', 'labels', 'emoji', 'imageSize', 'preprocessing', 'softmax', 'margin', 'realFaces']
      .forEach((key) => { state[key] = entry[key]; });
    return entry;
  }

  /** The FER2013 model, or null (missing: the note says how to make it; broken: a warning says why). */
  async function loadFerModel(tf) {
    try {
      const loaded = await fetchModel(tf, options.ferModelUrl, options.ferModel);
      if (!loaded) return null;
      const entry = await describeModel(tf, FER2013, options.ferModel, loaded);
      state.models[FER2013] = entry;
      return entry;
    } catch (error) {
      warn(`The FER2013 model (${options.ferModel}) could not be used: ${error.message} ` +
        'Your model runs alone; `make course` exports the FER2013 model again.');
      return null;
    }
  }

  function fmt(value) {
    return typeof value === 'number' ? value.toFixed(2) : String(value);
  }

  /** The real-face figures of the learner's metadata as a clause ("… at 0.69 agreement … (bar 0.8), …"). */
  function figuresClause(rf) {
    const bars = rf.bars || {};
    const parts = [];
    if (typeof rf.agreement === 'number') {
      const faces = rf.consensusFaces ? ` on ${rf.consensusFaces} faces` : '';
      parts.push(`at ${fmt(rf.agreement)} agreement with two FER2013-trained models${faces}` +
        (bars.agreement !== undefined ? ` (bar ${bars.agreement})` : ''));
    }
    if (rf.astronaut) parts.push(`reads scikit-image's smiling astronaut as ${rf.astronaut} (bar: ${bars.astronaut || 'Happy'})`);
    if (typeof rf.smileNeutralBalancedAccuracy === 'number') {
      parts.push(`tells clear smiles from neutral faces at ${fmt(rf.smileNeutralBalancedAccuracy)}` +
        (bars.smileNeutral !== undefined ? ` (bar ${bars.smileNeutral})` : ''));
    }
    if (!parts.length) return 'with figures this page cannot read';
    return parts.length === 1 ? parts[0] : parts.slice(0, -1).join(', ') + ' and ' + parts[parts.length - 1];
  }

  /** One sentence: which models are shown and why (the learner's real-face figures from its metadata). */
  function modelNote(learner, fer) {
    const rf = learner.realFaces;
    const you = `Your model${learner.trainedOn ? ` (trained on ${learner.trainedOn})` : ''}`;
    const passed = Boolean(rf && rf.passed === true);
    const missing = `the FER2013 model is not exported (${options.ferModel}model.json is missing): run ` +
      '`make course` to export it, then reload';
    if (passed) {
      const reads = `${you} passed the real-face evaluation: it reads real faces ${figuresClause(rf)}`;
      return fer ? `${reads}, so it is shown alone (tick "FER2013 model side by side" to compare).`
        : `${reads}, so it is shown alone (${missing} to compare).`;
    }
    const why = rf ? `${you} has not passed the real-face evaluation: it reads real faces ${figuresClause(rf)}`
      : `${you} has not been checked on real faces (its metadata.json carries no real-face evaluation; ` +
        'notebook 04 runs it and notebook 05 exports it with the model)';
    return fer ? `${why}, so the FER2013 model is shown beside it.` : `${why}; ${missing}, and it will be shown beside it.`;
  }

  // ------------------------------------------------------------------ one frame: detect, crop, predict, draw

  let busy = false;
  let lastStart = 0; // when the last live analysis started
  let meanInterval = 0; // ms between live analyses, averaged

  /** Copy `source` (the <video>, an <img> or a canvas) into the frame canvas at its own size. */
  function grabFrame(source) {
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

  /** Detection: the face boxes, left to right as shown on screen (so face #1 is the leftmost you see). */
  async function detectFaces(size, mode) {
    const found = mode === 'live' ? await state.detector.live(frame, size.width, size.height)
      : await state.detector.still(frame, size.width, size.height);
    const mirrored = $('mirror').checked;
    const detections = found.detections.slice()
      .sort((a, b) => (mirrored ? b.box.x - a.box.x : a.box.x - b.box.x));
    return { detections: detections, ran: found.ran };
  }

  /** The models that run on this frame: the learner's, and the FER2013 model while its column is shown. */
  function activeModels() {
    const list = [state.models[LEARNER]];
    if (state.sideBySide && state.models[FER2013]) list.push(state.models[FER2013]);
    return list;
  }

  /** Crop: per model, each face's square and its input pixels (gray, the model's own size). */
  function cropFaces(detections, size, models) {
    const grays = new Map(); // one gray square per distinct crop, shared by the models that use it
    const crops = {};
    models.forEach((m) => {
      const squares = detections.map((d) => faceCrop.cropSquare(d.box, size.width, size.height, m.margin));
      const pixels = squares.map((sq) => {
        const key = `${sq.x},${sq.y},${sq.size}`;
        if (!grays.has(key)) grays.set(key, faceCrop.toGray(frameCtx.getImageData(sq.x, sq.y, sq.size, sq.size).data, sq.size));
        return faceCrop.resizeGray(grays.get(key), sq.size, m.imageSize);
      });
      crops[m.key] = { squares: squares, pixels: pixels };
    });
    return crops;
  }

  function softmax(values) {
    const max = Math.max.apply(null, values);
    const exps = values.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    return exps.map((v) => v / total);
  }

  /** One model on all faces at once: (faces) x (classes) probabilities. */
  async function runModel(m, pixels) {
    if (!pixels.length) return [];
    const tf = faceapi.tf;
    const n = m.imageSize;
    const prep = m.preprocessing;
    const input = new Float32Array(pixels.length * n * n);
    pixels.forEach((p, f) => {
      for (let i = 0; i < p.length; i++) input[f * n * n + i] = p[i] * prep.scale + prep.offset;
    });
    const x = tf.tensor4d(input, [pixels.length, n, n, 1]);
    const y = m.model.predict(x);
    const values = await y.data();
    x.dispose();
    y.dispose();
    const classes = values.length / pixels.length;
    const rows = [];
    for (let f = 0; f < pixels.length; f++) {
      const row = Array.from(values.subarray(f * classes, (f + 1) * classes));
      rows.push(m.softmax ? softmax(row) : row);
    }
    return rows;
  }

  /** face-api's own expression model on the detector boxes ({name: probability} per face). */
  async function runFaceApiExpressions(detections) {
    const rects = detections.map((d) => new faceapi.Rect(d.box.x, d.box.y, d.box.width, d.box.height));
    const faces = rects.length ? await faceapi.extractFaces(frame, rects) : [];
    const out = [];
    for (const canvas of faces) out.push(await faceapi.nets.faceExpressionNet.predictExpressions(canvas));
    return out;
  }

  /** Predict: every active model on its crops; face-api's expression model when its column is on. */
  async function predictFaces(detections, crops, models) {
    const results = {};
    const ms = {};
    for (const m of models) {
      const t = performance.now();
      results[m.key] = await runModel(m, crops[m.key].pixels);
      ms[m.key] = performance.now() - t;
    }
    if (state.reference && faceapi.nets.faceExpressionNet.isLoaded && detections.length) {
      const t = performance.now();
      results.faceapi = await runFaceApiExpressions(detections);
      ms.faceapi = performance.now() - t;
    }
    return { results: results, ms: ms };
  }

  function bestOf(p) {
    return p.indexOf(Math.max.apply(null, p));
  }

  /** The faces as state.last lists them: the learner's answer at the top level, the others beside it. */
  function describeFaces(found, crops, predicted) {
    const learner = state.models[LEARNER];
    const fer = state.models[FER2013];
    return found.detections.map((d, i) => {
      const p = predicted.results[LEARNER][i];
      const best = bestOf(p);
      const face = {
        box: { x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }, // as input 224 would give it
        detectorBox: d.detectorBox, // the detector's own box at its input size
        score: d.score,
        detected: found.ran, // false: the box of an earlier frame (the detector skips frames)
        crop: crops[LEARNER].squares[i],
        probabilities: p,
        classIndex: best,
        label: learner.labels[best],
        emoji: learner.emoji[best],
      };
      if (predicted.results[FER2013]) {
        const q = predicted.results[FER2013][i];
        const k = bestOf(q);
        face.fer2013 = { crop: crops[FER2013].squares[i], probabilities: q, classIndex: k, label: fer.labels[k],
          emoji: fer.emoji[k] };
      }
      if (predicted.results.faceapi) {
        const expressions = predicted.results.faceapi[i];
        const names = Object.keys(FACEAPI_CLASS);
        const probs = {};
        names.forEach((name) => { probs[name] = expressions[name] || 0; });
        const top = names.reduce((a, b) => (probs[b] > probs[a] ? b : a));
        // (named `reference` since the page's first version; UI: "face-api's expression model")
        face.reference = { label: top, emoji: COURSE_EMOJI[FACEAPI_CLASS[top]], probability: probs[top],
          probabilities: probs };
      }
      const big = state.bigModel === FER2013 && face.fer2013 ? FER2013 : LEARNER;
      face.shown = big === FER2013 ? { model: FER2013, emoji: face.fer2013.emoji, label: face.fer2013.label }
        : { model: LEARNER, emoji: face.emoji, label: face.label };
      return face;
    });
  }

  /** Analyse one frame from `source` (the <video>, an <img> or a canvas); updates state.last and the screen. */
  async function analyse(source, mode) {
    const t0 = performance.now();
    const size = grabFrame(source);
    if (!size) return null;
    const found = await detectFaces(size, mode);
    const t1 = performance.now();
    const models = activeModels();
    const crops = cropFaces(found.detections, size, models);
    const t2 = performance.now();
    const predicted = await predictFaces(found.detections, crops, models);
    const t3 = performance.now();
    const faces = describeFaces(found, crops, predicted);
    let largest = -1;
    faces.forEach((f, i) => {
      if (largest < 0 || f.crop.size > faces[largest].crop.size) largest = i;
    });
    drawView(faces, size);
    showFaces(faces);
    const now = performance.now();
    if (mode === 'live') {
      // Frame rate from the starts of successive analyses: everything counts, waiting for the camera included.
      // Averaged over intervals, not rates: frames with and without the detector alternate (50 ms, 5 ms), and
      // the mean of their rates would overstate the frames per second.
      if (lastStart) {
        const interval = Math.max(t0 - lastStart, 1e-3);
        meanInterval = meanInterval ? 0.9 * meanInterval + 0.1 * interval : interval;
        state.fps = 1000 / meanInterval;
      }
      lastStart = t0;
    }
    const timings = { detect: t1 - t0, crop: t2 - t1, model: t3 - t2, draw: now - t3, total: now - t0,
      faces: faces.length, detected: found.ran, reference: Boolean(predicted.results.faceapi),
      models: predicted.ms };
    state.frames += 1;
    state.timings = timings;
    state.history.push(Object.assign({ at: t0, mode: mode }, timings));
    if (state.history.length > 300) state.history.shift();
    // One assignment each, in the same turn: `last` and the crops always describe the same frame.
    state.lastModelCrops = {};
    Object.keys(crops).forEach((key) => { state.lastModelCrops[key] = crops[key].pixels.map((p) => Array.from(p)); });
    state.lastCrops = state.lastModelCrops[LEARNER];
    state.lastCrop = largest >= 0 ? state.lastCrops[largest] : null;
    state.last = { faces: faces, backend: state.backend, fps: Math.round(state.fps * 10) / 10, mode: mode,
      frame: size, largest: largest, time: t0, bigModel: state.bigModel };
    if (state.recording && largest >= 0) recordCrop(crops[LEARNER].pixels[largest]);
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
    const emojiSize = Math.max(24, Math.round(Math.max(size.width, 640) / 14));
    const line = Math.max(3, Math.round(size.width / 320));
    faces.forEach((f, i) => {
      const c = f.crop;
      const x = mirror ? size.width - c.x - c.size : c.x;
      ctx.lineWidth = line;
      ctx.strokeStyle = '#ffd33d';
      ctx.strokeRect(x, c.y, c.size, c.size);
      ctx.font = `${emojiSize}px sans-serif`;
      ctx.textBaseline = 'bottom';
      ctx.fillText(f.shown.emoji, x, Math.max(emojiSize, c.y));
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

  /** A column: title, emoji, caption and one probability bar per class. Built once, updated per frame. */
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

  /** Put `column` in `card` at its place (or take it out), without touching the DOM when nothing changes. */
  function placeColumn(card, column, wanted) {
    const inCard = column.node.parentNode === card.node;
    if (wanted && !inCard) card.node.appendChild(column.node);
    if (!wanted && inCard) column.node.remove();
  }

  // face-api's expression names in the course's class order, so the columns line up.
  const FACEAPI_NAMES = Object.keys(FACEAPI_CLASS).sort((a, b) => FACEAPI_CLASS[a] - FACEAPI_CLASS[b]);
  const cards = []; // one per face slot: {node, ours, fer2013, reference}
  let noFaceCard = null;

  function showFaces(faces) {
    const box = $('faces');
    if (!faces.length) {
      if (!noFaceCard) {
        noFaceCard = el('div', 'face-card no-face');
        noFaceCard.append(el('div', 'big-emoji', '🙈'), el('div', 'no-face-text', 'No face found'),
          el('div', 'hint', 'Face the camera with light on your face; the detector needs a face of about ' +
            '30 pixels or more.'));
      }
      if (box.firstChild !== noFaceCard || box.childNodes.length !== 1) box.replaceChildren(noFaceCard);
      box.className = 'faces none';
      return;
    }
    box.className = 'faces';
    const fer = state.models[FER2013];
    while (cards.length < faces.length) {
      const ours = makeColumn('ours', '', state.labels.map((l, k) => `${state.emoji[k]} ${l}`));
      const ferColumn = fer ? makeColumn('fer2013', 'FER2013 model', fer.labels.map((l, k) => `${fer.emoji[k]} ${l}`))
        : null;
      if (ferColumn && fer.trainedOn) ferColumn.node.title = `trained on ${fer.trainedOn}`;
      const faceapiColumn = makeColumn('reference', "face-api's expression model",
        FACEAPI_NAMES.map((nm) => `${COURSE_EMOJI[FACEAPI_CLASS[nm]]} ${nm}`));
      const node = el('div', 'face-card');
      node.append(ours.node);
      cards.push({ node: node, ours: ours, fer2013: ferColumn, reference: faceapiColumn });
    }
    faces.forEach((f, i) => {
      const card = cards[i];
      card.ours.node.firstChild.textContent = `face #${i + 1} · your model`;
      card.ours.big.title = f.label;
      updateColumn(card.ours, f.emoji, `${f.label} ${(100 * f.probabilities[f.classIndex]).toFixed(0)}%`,
        f.probabilities, f.classIndex);
      card.ours.node.classList.toggle('main', f.shown.model === LEARNER);
      if (card.fer2013) {
        if (f.fer2013) {
          const g = f.fer2013;
          updateColumn(card.fer2013, g.emoji, `${g.label} ${(100 * g.probabilities[g.classIndex]).toFixed(0)}%`,
            g.probabilities, g.classIndex);
          card.fer2013.node.classList.toggle('main', f.shown.model === FER2013);
        }
        placeColumn(card, card.fer2013, Boolean(f.fer2013));
      }
      if (f.reference) {
        const ref = f.reference;
        updateColumn(card.reference, ref.emoji, `${ref.label} ${(100 * ref.probability).toFixed(0)}%`,
          FACEAPI_NAMES.map((nm) => ref.probabilities[nm]), FACEAPI_NAMES.indexOf(ref.label));
      }
      // Column order: your model, the FER2013 model, face-api's model.
      placeColumn(card, card.reference, false);
      placeColumn(card, card.reference, Boolean(f.reference));
    });
    const wanted = cards.slice(0, faces.length).map((c) => c.node);
    const current = Array.from(box.childNodes);
    if (current.length !== wanted.length || current.some((node, i) => node !== wanted[i])) box.replaceChildren(...wanted);
  }

  // ------------------------------------------------------------------ live loop and snapshot

  // The loop analyses each new camera frame once (not the same frame again and again), so FPS means
  // distinct camera frames analysed per second: at most the camera's own rate. A frame counts as new when the
  // browser presented it after the last analysis started (requestVideoFrameCallback's presentationTime): its
  // callback can come late, during or after the analysis of that very frame, so a callback alone is no proof.
  let cameraFrames = 0; // frame callbacks the camera has delivered
  let lastPresented = -Infinity; // when the newest reported frame was presented (performance.now() clock)
  let generation = 0; // bumped by every (re)start: an older loop sees it and stops
  let wakeUp = null; // set while the loop sleeps until the next camera frame

  function countCameraFrames() {
    if (!('requestVideoFrameCallback' in video)) return;
    const onFrame = (now, meta) => {
      cameraFrames += 1;
      state.cameraFrames = cameraFrames;
      lastPresented = meta && typeof meta.presentationTime === 'number' ? meta.presentationTime : now;
      video.requestVideoFrameCallback(onFrame);
      if (wakeUp) wakeUp();
    };
    video.requestVideoFrameCallback(onFrame);
  }

  /** Resolves when a camera frame presented after `startedAt` (the last analysis' start) is available. */
  function nextFrame(startedAt) {
    return new Promise((resolve) => {
      if (!('requestVideoFrameCallback' in video)) {
        requestAnimationFrame(() => resolve());
        return;
      }
      if (lastPresented > startedAt) {
        setTimeout(resolve, 0);
        return;
      }
      // Some browsers pause frame callbacks for a video out of sight: never sleep more than 250 ms.
      const timer = setTimeout(() => { wakeUp = null; resolve(); }, 250);
      wakeUp = () => {
        if (lastPresented <= startedAt) return;
        wakeUp = null;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async function loop(id) {
    while (id === generation && state.mode === 'live' && state.stage === 'running') {
      if (busy || video.readyState < 2) { // a snapshot in progress, or the camera not ready yet
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      busy = true;
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

  const still = document.createElement('canvas'); // the last snapshot or photo, to redo when the view changes

  async function takeSnapshot(source) {
    while (busy) await new Promise((r) => setTimeout(r, 5));
    busy = true;
    try {
      const result = await analyse(source || video, 'snapshot');
      if (result && source !== still) {
        still.width = frame.width;
        still.height = frame.height;
        still.getContext('2d').drawImage(frame, 0, 0);
      }
      return result;
    } finally {
      busy = false;
    }
  }

  function setMode(mode) {
    state.mode = mode;
    document.querySelectorAll('input[name=mode]').forEach((r) => { r.checked = r.value === mode; });
    $('snap').disabled = !(state.stage === 'running' && mode === 'snapshot');
    generation += 1;
    if (mode === 'live') {
      lastStart = 0;
      meanInterval = 0;
      state.fps = 0;
      state.detector.reset();
      loop(generation);
    } else {
      $('fps').textContent = 'snapshot mode';
    }
  }

  /** Re-analyse a still result so a changed view shows at once (live frames update by themselves). */
  function refreshStill() {
    if (state.last && state.mode === 'snapshot' && still.width) takeSnapshot(still);
  }

  // ------------------------------------------------------------------ which models are shown

  /** The FER2013 model's column on or off (off: it does not run, and your model's emoji is the big one). */
  function setSideBySide(on) {
    state.sideBySide = Boolean(on && state.models[FER2013]);
    $('side').checked = state.sideBySide;
    if (!state.sideBySide && state.bigModel === FER2013) setBig(LEARNER);
    updateBigControls();
  }

  /** Whose emoji is big (on the video and in each card): 'learner' or 'fer2013' (which shows its column). */
  function setBig(name) {
    if (name === FER2013 && !state.models[FER2013]) name = LEARNER;
    if (![LEARNER, FER2013].includes(name)) throw new Error("the big emoji comes from 'learner' or 'fer2013'");
    state.bigModel = name;
    if (name === FER2013 && !state.sideBySide) setSideBySide(true);
    updateBigControls();
    refreshStill();
  }

  function updateBigControls() {
    document.querySelectorAll('input[name=big]').forEach((r) => {
      r.checked = r.value === state.bigModel;
      r.disabled = r.value === FER2013 && !state.models[FER2013];
    });
    $('side').disabled = !state.models[FER2013];
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
    $('side').addEventListener('change', (e) => { setSideBySide(e.target.checked); refreshStill(); });
    document.querySelectorAll('input[name=big]').forEach((r) => {
      r.addEventListener('change', () => { if (r.checked) setBig(r.value); });
    });
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

  /** face-api's bundled tfjs on the wanted backend (another one, with a warning, if it cannot start). */
  async function startTf() {
    try {
      await courseTf.loadScript('vendor/face-api.js');
    } catch (error) {
      throw Object.assign(new Error('vendor/face-api.js did not load: html/vendor/ is missing. Run `make setup` ' +
        '(or `bash scripts/setup.sh`), which copies face-api and TensorFlow.js from npm, then reload.'),
      { kind: 'setup' });
    }
    // face-api.js 1.7.15 already bundles tfjs-backend-wasm 4.22: loading tf-backend-wasm.min.js as well would
    // register its kernels twice. Only the .wasm files are needed (tfjs-setup.js points tfjs at vendor/).
    const tf = faceapi.tf;
    let backend;
    try {
      backend = await courseTf.startBackend(tf, courseTf.preferring(options.backend));
    } catch (error) {
      throw Object.assign(new Error('no TensorFlow.js backend (wasm, webgl, cpu) could start in this browser'),
        { kind: 'backend' });
    }
    if (backend.fellBack) {
      const hint = options.backend === 'wasm' ? ' (are the .wasm files in html/vendor/? run `make setup`)' : '';
      warn(`The ${options.backend} backend did not start in this browser${hint}; running on ${backend.name} ` +
        'instead, which is slower here.');
    }
    state.backend = backend.name;
    state.backendDetail = backend.detail;
    $('backend').textContent = `tfjs ${tf.version.tfjs} on ${backend.detail}`;
    return tf;
  }

  async function startDetector() {
    try {
      await faceapi.nets.tinyFaceDetector.loadFromUri('vendor/face-api-models');
    } catch (error) {
      throw Object.assign(new Error('The face detector (vendor/face-api-models/tiny_face_detector_model) did not ' +
        'load: run `make setup`, then reload.'), { kind: 'setup' });
    }
    try {
      state.detector = faceDetect.create(faceapi, options.detector);
    } catch (error) {
      throw Object.assign(new Error(`Bad detector option in the address: ${error.message}.`), { kind: 'setup' });
    }
  }

  /** Both models, the sentence about them, and the default view (side by side unless yours passed). */
  async function startModels(tf) {
    const [learner, fer] = await Promise.all([loadLearnerModel(tf), loadFerModel(tf)]);
    const passed = Boolean(learner.realFaces && learner.realFaces.passed === true);
    state.note = modelNote(learner, fer);
    courseCamera.status($('model-note'), state.note, passed || !fer ? 'info' : 'warn');
    setSideBySide(options.side !== null ? options.side : Boolean(fer) && !passed);
    setBig(options.big || (state.sideBySide && !passed ? FER2013 : LEARNER));
  }

  function describeSetup() {
    const learner = state.models[LEARNER];
    const fer = state.models[FER2013];
    const d = state.detector.settings;
    const every = d.every === 1 ? 'every frame' : `every ${d.every === 2 ? '2nd' : `${d.every}th`} frame`;
    return `model "${learner.name}" (${learner.labels.length} classes, ${learner.imageSize}×${learner.imageSize} gray, ` +
      `margin ${learner.margin})` + (fer ? ` · FER2013 model ${fer.imageSize}×${fer.imageSize}` : '') +
      ` · detector ${d.size} on ${every}, photos at ${d.still.join(' + ')}, score ≥ ${d.score} · ${state.backendDetail}`;
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
      const tf = await startTf();
      await startDetector();
      await startModels(tf);
      setupRecordPanel();
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
    setStatus(`Camera ${video.videoWidth}×${video.videoHeight} · ${describeSetup()}.`, 'ok');
    setMode(state.mode);
  }

  main();
})();
