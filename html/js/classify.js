// The ImageNet classifier page (classify.html): camera or file -> central square -> TensorFlow.js.
//
// The model is the Keras network of notebook 03 exported as a TensorFlow.js *graph* model
// (aiffel_lib.imagenet.export_for_browser): models/imagenet/model.json + weight shards, and a
// metadata.json with the labels, the input size and the preprocessing. It is loaded once.
// Backends: wasm first (the fast CPU path), then webgl, then cpu (js/tfjs-setup.js starts them).
//
// State for learners (in the console) and for the tests: window.classifyPage, e.g.
//   classifyPage.last = {source, top: [{classId, label, probability}], probabilities: [1000],
//                        backend, ms, totalMs}
(function () {
  'use strict';

  const params = new URLSearchParams(location.search);
  const modelDir = (params.get('model') || 'models/imagenet/').replace(/\/?$/, '/');
  const forcedBackend = params.get('backend');
  const MISSING_HELP = 'Create them with notebooks/03_imagenet_classifier.ipynb (run it top to bottom) or ' +
    'on the command line: python -m aiffel_lib.imagenet --export. Then reload this page.';

  const video = document.querySelector('video');
  const snapshotCanvas = document.getElementById('snapshot');
  const inputCanvas = document.getElementById('input');
  const inputCtx = inputCanvas.getContext('2d', { willReadFrequently: true });
  const snapButton = document.getElementById('snap');
  const fileInput = document.getElementById('file');
  const statusEl = document.getElementById('status');
  const cameraStatusEl = document.getElementById('camera-status');
  const topList = document.getElementById('top');
  const timingEl = document.getElementById('timing');

  const page = window.classifyPage = {
    ready: false,          // model loaded (the file picker works)
    cameraReady: false,    // camera streaming (the snapshot button works)
    error: null,           // model/TensorFlow.js problem (the page cannot classify)
    cameraError: null,     // camera problem (files still work)
    backend: null, network: null, metadata: null, loadMs: null,
    count: 0, last: null, busy: false,
  };
  let model = null;
  let size = 224, scale = 1, offset = 0, cropFraction = 1, labels = [];

  function show(el, text, kind) {
    courseCamera.status(el, text, kind);
  }

  /** tf.min.js + its wasm backend (js/tfjs-setup.js); wasm first, then webgl, then cpu, or only ?backend=. */
  async function startTf() {
    const loaded = await courseTf.load('tfjs');
    const started = await courseTf.startBackend(loaded.tf, forcedBackend ? [forcedBackend] : loaded.backends);
    return started.name;
  }

  async function fetchOk(url, what) {
    const response = await courseTf.fetchFresh(url);
    if (!response) {
      throw new Error(`Could not fetch ${what}. Is the page served by ` +
        '`python -m aiffel_lib.serve`? Opening the file directly (file://) does not allow loading a model.');
    }
    if (!response.ok) {
      throw new Error(`The model files are missing: ${modelDir}${what} was not found (HTTP ${response.status}). ` +
        MISSING_HELP);
    }
    return response;
  }

  async function loadModel() {
    const meta = await (await fetchOk(modelDir + 'metadata.json', 'metadata.json')).json();
    const prep = meta.preprocessing || {};
    if (!Array.isArray(meta.labels) || !meta.imageSize || typeof prep.scale !== 'number') {
      throw new Error(`${modelDir}metadata.json lacks labels, imageSize or preprocessing.scale: ` +
        're-export the model. ' + MISSING_HELP);
    }
    labels = meta.labels;
    size = Array.isArray(meta.imageSize) ? meta.imageSize[0] : meta.imageSize;
    scale = prep.scale;
    offset = prep.offset || 0;
    cropFraction = prep.cropFraction || 1;
    inputCanvas.width = inputCanvas.height = size;
    try {
      model = await tf.loadGraphModel(modelDir + 'model.json');
    } catch (error) {
      const missing = /404|status code/.test(String(error && error.message));
      throw new Error((missing ? `The model files are missing or incomplete in ${modelDir}` :
        `tf.loadGraphModel could not load ${modelDir}model.json`) + ` (${error.message}). ` + MISSING_HELP);
    }
    // Warm-up: the first call compiles kernels, so it would make the first timing misleading.
    const y = model.predict(tf.zeros([1, size, size, 3]));
    await y.data();
    y.dispose();
    return meta;
  }

  /** The central square (cropFraction of the shorter side) of `source`, resized into the input canvas. */
  function drawCrop(source, width, height) {
    const side = Math.max(1, Math.round(cropFraction * Math.min(width, height)));
    const sx = Math.floor((width - side) / 2), sy = Math.floor((height - side) / 2);
    inputCtx.imageSmoothingEnabled = true;
    inputCtx.imageSmoothingQuality = 'high';
    inputCtx.drawImage(source, sx, sy, side, side, 0, 0, size, size);
    return { sx, sy, side };
  }

  function outlineCrop(box, factor) {
    const ctx = snapshotCanvas.getContext('2d');
    ctx.strokeStyle = '#ffcc00';
    ctx.lineWidth = Math.max(2, snapshotCanvas.width / 240);
    ctx.strokeRect(box.sx * factor, box.sy * factor, box.side * factor, box.side * factor);
  }

  /** Run the network on the input canvas; show and return the result. */
  async function classifyInput(source) {
    const t0 = performance.now();
    const rgba = inputCtx.getImageData(0, 0, size, size).data;
    const x = new Float32Array(size * size * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {  // RGBA -> RGB, then the model's scaling
      x[j] = rgba[i] * scale + offset;
      x[j + 1] = rgba[i + 1] * scale + offset;
      x[j + 2] = rgba[i + 2] * scale + offset;
    }
    const input = tf.tensor4d(x, [1, size, size, 3]);
    const t1 = performance.now();
    const output = model.predict(input);
    const probabilities = Array.from(await output.data());
    const t2 = performance.now();
    input.dispose();
    output.dispose();
    const order = probabilities.map((p, i) => i).sort((a, b) => probabilities[b] - probabilities[a]);
    const top = order.slice(0, 3).map((i) => ({ classId: i, label: labels[i], probability: probabilities[i] }));
    page.count += 1;
    page.last = { source, top, probabilities, backend: tf.getBackend(), ms: t2 - t1, totalMs: t2 - t0 };
    render(page.last);
    return page.last;
  }

  function render(result) {
    topList.innerHTML = '';
    for (const item of result.top) {
      const li = document.createElement('li');
      const pct = (100 * item.probability).toFixed(1);
      li.innerHTML = '<span class="name"></span> <span class="pct"></span><div class="bar"></div>';
      li.querySelector('.name').textContent = item.label;
      li.querySelector('.pct').textContent = `${pct}% (class ${item.classId})`;
      li.querySelector('.bar').style.width = `${Math.max(0.5, 100 * item.probability)}%`;
      topList.appendChild(li);
    }
    timingEl.textContent = `${page.network || 'model'} on the ${result.backend} backend: ` +
      `${result.ms.toFixed(1)} ms inference (${result.totalMs.toFixed(1)} ms with preprocessing), ` +
      `${result.source} #${page.count}`;
  }

  async function guarded(work) {
    if (page.busy || !model) return null;
    page.busy = true;
    try {
      return await work();
    } catch (error) {
      show(statusEl, `Classification failed: ${error.message}`, 'error');
      return null;
    } finally {
      page.busy = false;
    }
  }

  snapButton.onclick = () => guarded(async () => {
    courseCamera.snapshot(video, snapshotCanvas);
    const box = drawCrop(snapshotCanvas, snapshotCanvas.width, snapshotCanvas.height);
    outlineCrop(box, 1);
    return classifyInput('snapshot');
  });

  fileInput.onchange = () => guarded(async () => {
    const file = fileInput.files && fileInput.files[0];
    if (!file) return null;
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      try {
        await img.decode();
      } catch (error) {
        throw new Error(`"${file.name}" is not an image this browser can read (try a JPEG or PNG).`);
      }
      const w = img.naturalWidth, h = img.naturalHeight;
      const factor = Math.min(1, 640 / Math.max(w, h));  // a preview, not the full photo
      snapshotCanvas.width = Math.round(w * factor);
      snapshotCanvas.height = Math.round(h * factor);
      snapshotCanvas.getContext('2d').drawImage(img, 0, 0, snapshotCanvas.width, snapshotCanvas.height);
      const box = drawCrop(img, w, h);  // from the full-resolution photo
      outlineCrop(box, factor);
      return classifyInput(`file ${file.name}`);
    } finally {
      URL.revokeObjectURL(url);
    }
  });

  function updateButtons() {
    snapButton.disabled = !(page.ready && page.cameraReady);
    fileInput.disabled = !page.ready;
  }

  // The camera and the model start in parallel; either may fail without blanking the page.
  courseCamera.start(video).then(() => {
    page.cameraReady = true;
    show(cameraStatusEl, `Camera on: ${video.videoWidth}×${video.videoHeight}.` +
      (page.ready ? ' Press "Take snapshot".' : ' Waiting for the model…'), 'ok');
    updateButtons();
  }).catch((error) => {
    page.cameraError = error.friendly || String(error);
    show(cameraStatusEl, page.cameraError, 'error');
    updateButtons();
  });

  (async function main() {
    const t0 = performance.now();
    try {
      page.backend = await startTf();
      show(statusEl, `TensorFlow.js ${tf.version.tfjs} on ${page.backend}; loading ${modelDir}…`, 'info');
      const meta = page.metadata = await loadModel();
      page.network = (meta.userMetadata && meta.userMetadata.network) || meta.modelName || 'the model';
      page.loadMs = performance.now() - t0;
      page.ready = true;
      show(statusEl, `${page.network} loaded (${labels.length} classes, input ${size}×${size}) on the ` +
        `${page.backend} backend in ${(page.loadMs / 1000).toFixed(1)} s. ` +
        (page.cameraReady ? 'Press "Take snapshot" or choose a photo.' : 'Choose a photo (or allow the camera).'),
        'ok');
      if (page.cameraReady) show(cameraStatusEl, `Camera on: ${video.videoWidth}×${video.videoHeight}. Press "Take snapshot".`, 'ok');
    } catch (error) {
      page.error = String(error && error.message || error);
      show(statusEl, page.error, 'error');
    }
    updateButtons();
  })();
})();
